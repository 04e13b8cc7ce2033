/*
 * port_registry.h - a free TCP port on 127.0.0.1 that no other test
 * process is handed at the same time.
 *
 * Binding port 0 and closing the socket is not enough once tests run in
 * parallel (make test runs two at a time): the kernel may hand the same
 * port to another process before this one listens on it. So every test
 * process, C or Python (tests/e2e/conftest.py free_port), takes ports from
 * one cursor kept in a file under flock(2), in a range below the kernel's
 * ephemeral range (ip_local_port_range starts at 32768), where neither
 * port-0 binds nor outgoing connections land. A port is handed out again
 * only after the cursor has gone round the whole range (6,000 ports; a
 * whole `make test` takes about 2,800), and only if it can be bound at
 * that moment.
 *
 * The file: $ACTORD_TEST_PORTS_FILE, default /tmp/actord-test-ports-<uid>.
 * The range: 17000-22999. Every fixed port of the tree lies outside it:
 * `make run` (8080, 9901, tests/services.sh's 16379/13306), the test
 * services (23306/26379 by default) and the benchmarks (24xxx-29xxx), so
 * a test never takes a port a benchmark or a service will bind.
 *
 * Thread: any; the registry's lock is a file lock, held only while one port
 * is picked.
 */
#ifndef ACTORD_TEST_PORT_REGISTRY_H
#define ACTORD_TEST_PORT_REGISTRY_H

#include <stdint.h>

/* A port nobody listens on now and no other test was handed recently;
 * 0 (with a message on stderr) if none could be found. */
uint16_t port_registry_take(void);

#endif

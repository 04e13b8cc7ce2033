"""HTTPS upstreams for the upstream tests: a throwaway PKI made with the
openssl command line and one nginx (from Debian) serving it on 127.0.0.1.

PKI (in the test's own directory): a CA (ca.pem) and a second, unknown CA
(ca2.pem); server certificates for localhost + 127.0.0.1 signed by the CA
(good), the same but expired, one for another host name only, one signed
by the unknown CA; a client certificate signed by the CA.

nginx servers (`TlsNginx.ports`):
  http        plain HTTP: /hello, a redirect chain /r3 -> /r2 -> /r1 ->
              /hello, /loop -> /loop, /up -> https://localhost:<ok>/hello,
              /gz.txt (gzip when asked), /big (the 100 MB file, when made)
  ok          HTTPS, good certificate: /hello, /close (Connection: close),
              /to-http -> http://127.0.0.1:<http>/hello, /r1 -> /hello,
              /store/NAME (WebDAV PUT: the body is stored in www/store/);
              session tickets and cache on; access log with
              $ssl_session_reused
  expired     HTTPS, expired certificate
  wronghost   HTTPS, certificate for other.example only
  wrongca     HTTPS, certificate from the unknown CA
  mtls        HTTPS, client certificate required (signed by the CA):
              /hello answers "client <subject>"
"""
import os
import socket
import subprocess
import time

import pytest

from conftest import free_port, wait_until

GZ_TEXT = b"".join(b"line %05d of a compressible text body\n" % i for i in range(2000))


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_pki(d):
    """Every key and certificate the TLS tests use, in directory `d`."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "ca2"):
        _openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                 "-days", "2", "-subj", f"/CN=actord test {ca}", cwd=d)

    def leaf(name, cn, san, ca="ca", days="2", ext_usage="serverAuth"):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                 f"/CN={cn}", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"extendedKeyUsage={ext_usage}\n")
            if san:
                f.write(f"subjectAltName={san}\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
                 f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", days,
                 "-extfile", f"{name}.ext", cwd=d)

    leaf("good", "localhost", "DNS:localhost,IP:127.0.0.1")
    leaf("expired", "localhost", "DNS:localhost,IP:127.0.0.1", days="-1")
    leaf("wronghost", "other.example", "DNS:other.example")
    leaf("wrongca", "localhost", "DNS:localhost,IP:127.0.0.1", ca="ca2")
    leaf("client", "actord-client", "", ext_usage="clientAuth")
    return d


class TlsNginx:
    def __init__(self, d):
        self.dir = d
        self.ports = {k: free_port() for k in
                      ("http", "ok", "expired", "wronghost", "wrongca", "mtls")}
        self.www = os.path.join(d, "www")
        os.makedirs(os.path.join(self.www, "store"), exist_ok=True)
        os.chmod(self.www, 0o755)
        os.chmod(os.path.join(self.www, "store"), 0o777)
        with open(os.path.join(self.www, "gz.txt"), "wb") as f:
            f.write(GZ_TEXT)
        p = self.ports

        def tls(name, cert, extra=""):
            return f"""
    server {{
        listen 127.0.0.1:{p[name]} ssl;
        ssl_certificate {d}/{cert}.pem;
        ssl_certificate_key {d}/{cert}.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:S{name}:1m;
        ssl_session_tickets on;
        access_log {d}/{name}.access.log tls;
        {extra}
        location /hello {{ default_type text/plain; return 200 "hello"; }}
        location /close {{ keepalive_timeout 0; default_type text/plain; return 200 "bye"; }}
        location /to-http {{ return 302 http://127.0.0.1:{p['http']}/hello; }}
        location /r1 {{ return 302 /hello; }}
        location /store/ {{ root {self.www}; dav_methods PUT; client_max_body_size 0; }}
    }}"""
        mtls_extra = (f"ssl_verify_client on; ssl_client_certificate {d}/ca.pem; "
                      "location = /who { default_type text/plain; "
                      "return 200 \"client $ssl_client_s_dn\"; }")
        conf = f"""
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format tls '$ssl_session_reused $request_uri';
    server {{
        listen 127.0.0.1:{p['http']};
        access_log {d}/http.access.log tls;
        root {self.www};
        gzip on; gzip_min_length 1; gzip_types text/plain;
        location /hello {{ default_type text/plain; return 200 "hello"; }}
        location /r3 {{ return 302 /r2; }}
        location /r2 {{ return 301 /r1; }}
        location /r1 {{ return 307 /hello; }}
        location /loop {{ return 302 /loop; }}
        location /up {{ return 302 https://localhost:{p['ok']}/hello; }}
        location / {{ default_type text/plain; }}
    }}
    {tls("ok", "good")}
    {tls("expired", "expired")}
    {tls("wronghost", "wronghost")}
    {tls("wrongca", "wrongca")}
    {tls("mtls", "good", mtls_extra)}
}}
"""
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(["nginx", "-c", self.conf, "-p", d, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited: " + self.proc.stderr.read().decode())
            for port in self.ports.values():
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                except OSError:
                    return False
            return True
        wait_until(up, 10, "nginx to listen")

    def path(self, name):
        return os.path.join(self.dir, name)

    def access_log(self, name):
        try:
            with open(self.path(f"{name}.access.log")) as f:
                return [line.split() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def tls_nginx(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tls"))
    os.chmod(d, 0o755)
    make_pki(d)
    n = TlsNginx(d)
    yield n
    n.stop()


def stderr_has(a, text, timeout=5):
    """Wait until actord's log has `text` (the log actor writes a little later)."""
    wait_until(lambda: text in a.stderr(), timeout, f"log line with {text!r}")
    return True


def since(t0):
    return time.monotonic() - t0

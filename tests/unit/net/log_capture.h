/*
 * log_capture.h - the in-memory actors/log.h of log_capture.c.
 */
#ifndef ACTORD_TEST_LOG_CAPTURE_H
#define ACTORD_TEST_LOG_CAPTURE_H

extern char log_capture_last[1024];   /* "LEVEL message | fields" */
extern unsigned log_capture_count;

#endif

/*
 * log_capture.h - keep what is logged in memory (log_capture.c).
 */
#ifndef ACTORD_TEST_LOG_CAPTURE_H
#define ACTORD_TEST_LOG_CAPTURE_H

extern char log_capture_last[1024];   /* "LEVEL message | fields" */
extern unsigned log_capture_count;
/* The last access-log line: "client method path status bytes duration_ns". */
extern char log_capture_access[1024];
extern unsigned log_capture_access_count;

/* From now on every log line goes to the variables above. */
void log_capture_start(void);

#endif

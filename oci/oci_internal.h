/*
 * oci/oci_internal.h — helpers shared by the files of oci/ and nobody else.
 * Not part of the contract: other parts include oci/oci.h only.
 */
#ifndef BERTH_OCI_INTERNAL_H
#define BERTH_OCI_INTERNAL_H

#include "oci/oci.h"

/* Fills err (when not NULL) with a printf-style message, truncated to fit. Messages
 * never quote the caller's input: it may be binary or hostile, and the text ends up
 * in a response body. Returns `status` so callers can `return oci_fail(...)`. */
oci_status_t oci_fail(oci_err_t *err, oci_status_t status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

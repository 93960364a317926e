/* What the `berth` subcommands share. */
#include <stdarg.h>
#include <stdio.h>

#include "cli/cli_internal.h"

int cli_fail(cli_err_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * auth/status.c — auth's codes in words, as mdb_strerror gives LMDB's.
 */
#include "auth/auth.h"

const char *auth_status_name(auth_status_t s)
{
    switch (s) {
    case AUTH_OK:
        return "ok";
    case AUTH_EMALFORMED:
        return "malformed";
    case AUTH_EEXPIRED:
        return "expired";
    case AUTH_EBADSIG:
        return "bad signature";
    case AUTH_ENOMEM:
        return "no memory";
    case AUTH_ECRYPTO:
        return "crypto failure";
    }
    return "unknown";
}

const char *auth_identity_status_name(auth_identity_status_t s)
{
    switch (s) {
    case AUTH_IDENTITY_OK:
        return "ok";
    case AUTH_IDENTITY_NOT_FOUND:
        return "not found";
    case AUTH_IDENTITY_EXISTS:
        return "exists";
    case AUTH_IDENTITY_INVALID:
        return "invalid";
    case AUTH_IDENTITY_CONFLICT:
        return "conflict";
    case AUTH_IDENTITY_LIMIT:
        return "limit exceeded";
    case AUTH_IDENTITY_STORE_ERROR:
        return "store error";
    }
    return "unknown";
}

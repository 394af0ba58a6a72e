/* What the shared store needs from C: a digest that names an API key or
 * a request without revealing it (the store's keys are read by everyone
 * who can read the store). OpenSSL's libcrypto is already in the process
 * through libcurl. */
#include <openssl/evp.h>
#include "octogen.h"

/* core.sha256(s) -> 64 lower-case hex digits */
static int l_sha256(lua_State *L)
{
    static const char hex[] = "0123456789abcdef";
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    char out[2 * EVP_MAX_MD_SIZE];
    if (!EVP_Digest(s, len, md, &n, EVP_sha256(), NULL))
        return luaL_error(L, "sha256 failed");
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    lua_pushlstring(L, out, 2 * (size_t)n);
    return 1;
}

void digest_register(lua_State *L)
{
    lua_pushcfunction(L, l_sha256);
    lua_setfield(L, -2, "sha256");
}

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

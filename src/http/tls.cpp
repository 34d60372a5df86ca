#include "http/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace creditd::http {

namespace ssl = boost::asio::ssl;

namespace {

// "" when the file can be opened for reading, else why not.
std::string unreadable(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (in) return "";
  return std::strerror(errno);
}

// Passphrases are never asked for (a server must not wait on a terminal):
// an encrypted key does not load.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

// Whether `file` holds an unencrypted PEM private key.
bool holds_private_key(const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "r");
  if (f == nullptr) return false;
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, no_passphrase, nullptr);
  std::fclose(f);
  const bool found = key != nullptr;
  EVP_PKEY_free(key);
  ERR_clear_error();
  return found;
}

}  // namespace

std::expected<std::unique_ptr<ssl::context>, std::string> make_tls_context(
    const std::string& cert_file, const std::string& key_file) {
  if (std::string why = unreadable(cert_file); !why.empty())
    return std::unexpected("cannot read the TLS certificate " + cert_file + ": " + why);
  if (std::string why = unreadable(key_file); !why.empty())
    return std::unexpected("cannot read the TLS key " + key_file + ": " + why);

  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  // Always true for a fresh context (OpenSSL 3 knows TLS 1.2).
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_default_passwd_cb(ctx->native_handle(), no_passphrase);

  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  ERR_clear_error();
  if (ec) return std::unexpected("the TLS certificate " + cert_file + " holds no PEM certificate");
  if (!holds_private_key(key_file)) {
    return std::unexpected("the TLS key " + key_file +
                           " holds no PEM private key (or an encrypted one)");
  }
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  const bool matches = !ec && SSL_CTX_check_private_key(ctx->native_handle()) == 1;
  ERR_clear_error();
  if (!matches) {
    return std::unexpected("the TLS key " + key_file + " is not the key of the certificate " +
                           cert_file);
  }
  return ctx;
}

}  // namespace creditd::http

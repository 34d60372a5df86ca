// The server's TLS settings: a certificate chain and its private key (PEM
// files) in an OpenSSL context that speaks TLS 1.2 or later only.
// The context is read-only once made; sessions on any thread share it.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <expected>
#include <memory>
#include <string>

namespace creditd::http {

// Loads `cert_file` (a PEM certificate chain, the server's first) and
// `key_file` (its PEM private key). Errors, each naming the file: it cannot
// be read, it holds no certificate or key, or the key is not the
// certificate's.
std::expected<std::unique_ptr<boost::asio::ssl::context>, std::string> make_tls_context(
    const std::string& cert_file, const std::string& key_file);

}  // namespace creditd::http

#include "webhooks/signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "util/assert.hpp"

namespace creditd::webhooks {

namespace {

using mac = std::array<unsigned char, 32>;

mac hmac_sha256(std::string_view key, std::string_view message) {
  mac out{};
  unsigned int length = 0;
  const unsigned char* r = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                reinterpret_cast<const unsigned char*>(message.data()),
                                message.size(), out.data(), &length);
  CREDITD_ASSERT(r != nullptr && length == out.size());
  return out;
}

constexpr char b64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = std::uint32_t(std::uint8_t(bytes[i])) << 16 |
                            std::uint32_t(std::uint8_t(bytes[i + 1])) << 8 |
                            std::uint8_t(bytes[i + 2]);
    out += b64_digits[v >> 18 & 63];
    out += b64_digits[v >> 12 & 63];
    out += b64_digits[v >> 6 & 63];
    out += b64_digits[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    if (rest == 2) v |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
    out += b64_digits[v >> 18 & 63];
    out += b64_digits[v >> 12 & 63];
    out += rest == 2 ? b64_digits[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // a digit after '='
      v[k] = b64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const std::uint32_t n = std::uint32_t(v[0]) << 18 | std::uint32_t(v[1]) << 12 |
                            std::uint32_t(v[2]) << 6 | std::uint32_t(v[3]);
    out += static_cast<char>(n >> 16 & 0xff);
    if (pad < 2) out += static_cast<char>(n >> 8 & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string standard_key(std::string_view secret) {
  if (secret.starts_with(secret_prefix)) {
    if (auto key = base64_decode(secret.substr(secret_prefix.size())); key && !key->empty())
      return *key;
  }
  return std::string(secret);
}

std::string creditd_signature(std::string_view secret, std::int64_t timestamp_s,
                              std::string_view body) {
  const std::string t = std::to_string(timestamp_s);
  std::string payload;
  payload.reserve(t.size() + 1 + body.size());
  payload += t;
  payload += '.';
  payload.append(body);
  const mac m = hmac_sha256(secret, payload);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "t=" + t + ",v1=";
  for (unsigned char b : m) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

std::string standard_signature(std::string_view secret, std::string_view id,
                               std::int64_t timestamp_s, std::string_view body) {
  std::string payload(id);
  payload += '.';
  payload += std::to_string(timestamp_s);
  payload += '.';
  payload.append(body);
  const mac m = hmac_sha256(standard_key(secret), payload);
  return "v1," + base64_encode(std::string_view(reinterpret_cast<const char*>(m.data()), m.size()));
}

}  // namespace creditd::webhooks

// HTTPS: `creditd serve --tls-cert --tls-key` against a certificate made for
// the test. A charge round trip over TLS, the limits and the drain over TLS,
// the handshake timeout, plain HTTP refused, TLS 1.1 refused, bad files
// refused at start (exit 2), and creditctl over https://.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "http_fixture.hpp"
#include "support/https_client.hpp"
#include "support/shell_quote.hpp"

namespace tls_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

#ifndef CREDITCTL_BINARY
#error "CREDITCTL_BINARY must name the creditctl binary"
#endif

struct run_result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command line; returns its exit code and what it printed.
run_result run(const std::string& command) {
  run_result r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen");
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
    r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `tls_args`: arguments already quoted for the shell.
std::string serve_command(const std::string& db, const std::string& tls_args) {
  return shell_quote(CREDITD_BINARY) + " serve --store " + shell_quote("sqlite:" + db) +
         " --listen 127.0.0.1:0 " + tls_args + " </dev/null";
}

// A TLS server on a temporary store with a fresh certificate.
struct tls_server {
  explicit tls_server(std::vector<std::string> extra = {}) : proc(start(std::move(extra))) {}
  temp_dir dir;
  test_cert cert = make_test_cert(dir.file(""), "server");
  server_process proc;

 private:
  server_process start(std::vector<std::string> extra) {
    std::vector<std::string> args{"--tls-cert", cert.cert, "--tls-key", cert.key};
    args.insert(args.end(), extra.begin(), extra.end());
    return server_process{dir.file("creditd.db"), admin_key, args};
  }
};

int connect_raw(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("connect");
  return fd;
}

}  // namespace

TEST(http_tls, a_charge_round_trip_over_https) {
  tls_server srv;
  ASSERT_TRUE(srv.proc.https());
  https_client c(srv.proc.port(), srv.cert.cert, admin_key);
  ASSERT_EQ(c.put("/v1/accounts/alice", "{}").status, 201u);
  ASSERT_EQ(c.post("/v1/accounts/alice/lots", R"({"amount":"10","kind":"prepaid"})").status, 201u);
  auto charged =
      c.post("/v1/accounts/alice/charges", R"({"operation":"image.generate","amount":2.5})");
  ASSERT_EQ(charged.status, 201u) << charged.body;
  EXPECT_EQ(str(charged.json(), "balance_after"), "7.5");
  // The same connection keeps serving (keep-alive inside TLS).
  auto b = c.get("/v1/accounts/alice/balance");
  ASSERT_EQ(b.status, 200u);
  EXPECT_EQ(str(b.json(), "available"), "7.5");
  EXPECT_EQ(c.get("/healthz").status, 200u);
  // Errors keep the contract's shape over TLS.
  auto refused = c.post("/v1/accounts/alice/charges", R"({"operation":"x","amount":100})");
  EXPECT_EQ(refused.status, 402u);
  EXPECT_EQ(refused.error_code(), "insufficient_credits");
  EXPECT_EQ(srv.proc.terminate(), 0);
}

TEST(http_tls, plain_http_and_old_tls_are_refused_on_the_tls_port) {
  tls_server srv;
  // Plain HTTP gets no HTTP answer: the connection closes.
  EXPECT_THROW(raw_exchange(srv.proc.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
               boost::system::system_error);
  // A client that offers at most TLS 1.1 cannot complete a handshake.
  {
    namespace ssl = boost::asio::ssl;
    boost::asio::io_context io;
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_security_level(ctx.native_handle(), 0);  // let this client offer TLS 1.1
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_1_VERSION);
    ctx.set_verify_mode(ssl::verify_none);
    boost::beast::ssl_stream<boost::beast::tcp_stream> s(io, ctx);
    boost::beast::get_lowest_layer(s).connect(
        {boost::asio::ip::make_address("127.0.0.1"), srv.proc.port()});
    boost::system::error_code ec;
    s.handshake(ssl::stream_base::client, ec);
    EXPECT_TRUE(ec) << "a TLS 1.1 handshake succeeded";
  }
  // A client that does not trust the certificate refuses the server.
  temp_dir other;
  const test_cert stranger = make_test_cert(other.file(""), "stranger");
  EXPECT_THROW(https_client(srv.proc.port(), stranger.cert), boost::system::system_error);
  // And the server still serves a good client.
  https_client c(srv.proc.port(), srv.cert.cert);
  EXPECT_EQ(c.get("/healthz").status, 200u);
}

TEST(http_tls, limits_hold_over_tls) {
  tls_server srv;
  {
    https_client c(srv.proc.port(), srv.cert.cert);
    auto r = c.raw("POST /v1/accounts/a/charges HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                   admin_key + "\r\nContent-Length: 1048577\r\n\r\n");
    EXPECT_EQ(r.status, 413u) << r.body;
    EXPECT_EQ(r.error_code(), "payload_too_large");
  }
  {
    https_client c(srv.proc.port(), srv.cert.cert);
    auto r = c.raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(17 << 10, 'a') +
                   "\r\n\r\n");
    EXPECT_EQ(r.status, 431u) << r.body;
    EXPECT_EQ(r.error_code(), "headers_too_large");
  }
  {
    https_client c(srv.proc.port(), srv.cert.cert);
    auto r = c.raw("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(r.status, 400u) << r.body;
  }
}

// The handshake timeout is 10 s by default (`--tls-handshake-timeout-s`), 2 s
// here. The close is awaited for at most 9 s: a guard against a hang that
// also fails a server that ignores the option, with over four times the
// option's time to spare on a busy machine.
TEST(http_tls, a_client_that_never_says_hello_is_dropped_after_the_handshake_timeout) {
  tls_server srv({"--tls-handshake-timeout-s", "2"});
  const auto connected = std::chrono::steady_clock::now();
  const int fd = connect_raw(srv.proc.port());
  timeval guard{9, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
  // Meanwhile a normal client is served...
  {
    https_client c(srv.proc.port(), srv.cert.cert);
    EXPECT_EQ(c.get("/healthz").status, 200u);
  }
  // ...and the silent connection is still open after it: the server waits
  // for the hello, it does not drop a connection at once. (Checked only when
  // the normal client took less than the timeout: on a busy machine it may
  // not have.)
  char byte = 0;
  const ssize_t early = ::recv(fd, &byte, 1, MSG_DONTWAIT);
  const int early_errno = errno;
  if (std::chrono::steady_clock::now() - connected < std::chrono::seconds(2)) {
    EXPECT_TRUE(early < 0 && (early_errno == EAGAIN || early_errno == EWOULDBLOCK))
        << "the silent connection was closed before its handshake timeout";
  }
  // Then the server closes it: the event itself, within the guard.
  const ssize_t n = ::recv(fd, &byte, 1, 0);
  const int err = errno;
  ::close(fd);
  EXPECT_EQ(n, 0) << "the server did not close the silent connection within 9 s ("
                  << (n < 0 ? std::strerror(err) : "it sent a byte") << ")";
}

TEST(http_tls, sigterm_drains_tls_connections) {
  temp_dir dir;
  const test_cert cert = make_test_cert(dir.file(""), "server");
  const std::string log = dir.file("creditd.log");
  server_process proc{
      dir.file("creditd.db"), admin_key, {"--tls-cert", cert.cert, "--tls-key", cert.key}, {}, log};
  https_client idle(proc.port(), cert.cert, admin_key);
  ASSERT_EQ(idle.get("/healthz").status, 200u);
  const int silent = connect_raw(proc.port());  // mid-handshake
  timeval guard{60, 0};
  ::setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
  // The server accepts in the order connections arrive: once a later one is
  // answered, the silent one is the server's (not left in the listen queue,
  // where closing the listener would reset it).
  https_client later(proc.port(), cert.cert, admin_key);
  ASSERT_EQ(later.get("/healthz").status, 200u);
  EXPECT_EQ(proc.terminate(), 0);
  // Both connections were closed by the server (at the latest at its exit).
  char byte = 0;
  EXPECT_EQ(::recv(silent, &byte, 1, 0), 0);
  ::close(silent);
  // The server says how its drain ended. One that waited for the idle or
  // handshaking connection would have let its shutdown grace run out with
  // them still open; a working one closed them, whatever the machine's speed.
  std::ifstream in(log);
  const std::string text{std::istreambuf_iterator<char>(in), {}};
  const auto drained = text.find("\"msg\":\"drained\"");
  ASSERT_NE(drained, std::string::npos) << text;
  const std::string line = text.substr(drained, text.find('\n', drained) - drained);
  EXPECT_NE(line.find("\"connections_left\":\"0\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"grace_expired\":\"false\""), std::string::npos) << line;
}

TEST(http_tls, bad_tls_files_exit_2_naming_the_file) {
  temp_dir dir;
  const test_cert good = make_test_cert(dir.file(""), "good");
  const test_cert other = make_test_cert(dir.file(""), "other");
  const std::string db = dir.file("creditd.db");
  const std::string missing = dir.file("missing.key");
  const auto q = shell_quote;
  struct {
    std::string args;
    std::string message;
  } cases[] = {
      {"--tls-cert " + q(good.cert), "--tls-cert and --tls-key go together"},
      {"--tls-key " + q(good.key), "--tls-cert and --tls-key go together"},
      {"--tls-cert " + q(good.cert) + " --tls-key " + q(missing),
       "cannot read the TLS key " + missing + ": No such file or directory"},
      {"--tls-cert " + q(missing) + " --tls-key " + q(good.key),
       "cannot read the TLS certificate " + missing},
      {"--tls-cert " + q(good.key) + " --tls-key " + q(good.key),
       "the TLS certificate " + good.key + " holds no PEM certificate"},
      {"--tls-cert " + q(good.cert) + " --tls-key " + q(good.cert),
       "the TLS key " + good.cert + " holds no PEM private key"},
      {"--tls-cert " + q(good.cert) + " --tls-key " + q(other.key),
       "the TLS key " + other.key + " is not the key of the certificate " + good.cert},
  };
  for (const auto& x : cases) {
    auto r = run(serve_command(db, x.args));
    EXPECT_EQ(r.exit_code, 2) << x.args << ": " << r.output;
    EXPECT_NE(r.output.find(x.message), std::string::npos) << x.args << ": " << r.output;
    EXPECT_EQ(r.output.find("listening"), std::string::npos) << x.args;
  }
}

TEST(http_tls, creditctl_speaks_https_with_a_ca_file) {
  tls_server srv;
  const std::string url = "https://localhost:" + std::to_string(srv.proc.port());
  const std::string ctl =
      shell_quote(CREDITCTL_BINARY) + " --url " + url + " --key " + shell_quote(admin_key);
  const std::string cacert = shell_quote(srv.cert.cert);
  auto put = run(ctl + " --cacert " + cacert + " account put bob");
  ASSERT_EQ(put.exit_code, 0) << put.output;
  // Global options may also follow the command.
  auto grant = run(shell_quote(CREDITCTL_BINARY) + " grant bob --amount 5 --kind prepaid --url " +
                   url + " --key " + shell_quote(admin_key) + " --cacert " + cacert);
  ASSERT_EQ(grant.exit_code, 0) << grant.output;
  // The CA file may come from the environment instead.
  auto bal = run("CREDITD_CACERT=" + cacert + " " + ctl + " balance bob");
  ASSERT_EQ(bal.exit_code, 0) << bal.output;
  EXPECT_NE(bal.output.find("available 5"), std::string::npos) << bal.output;
  // Without trust in the server's certificate no request is made (exit 3:
  // no secure connection).
  auto untrusted = run("CREDITD_CACERT= " + ctl + " balance bob");
  EXPECT_EQ(untrusted.exit_code, 3) << untrusted.output;
  EXPECT_NE(untrusted.output.find("TLS handshake"), std::string::npos) << untrusted.output;
  // A CA file that cannot be read is a usage error (exit 2).
  auto unreadable = run(ctl + " --cacert /nonexistent/ca.pem balance bob");
  EXPECT_EQ(unreadable.exit_code, 2) << unreadable.output;
  EXPECT_NE(unreadable.output.find("/nonexistent/ca.pem"), std::string::npos) << unreadable.output;
}
}  // namespace tls_test_cpp

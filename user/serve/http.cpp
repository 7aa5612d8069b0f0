// The HTTP(S) endpoint: Boost.Beast on asio (Debian's libboost-dev, header-only; TLS through
// OpenSSL), one event loop thread. Chosen over cpp-httplib 0.11 (Debian's), which gives each
// connection a thread from a pool of 8 and caps no header: measured on it, 8 idle connections
// held every scrape for 3 s and one endless header line grew kleak to 830 MB. Here:
//  - an idle connection is a socket waiting in the loop, no thread; past max_connections the
//    connection that has waited longest for its request is closed to let a new one in;
//  - each request must arrive whole within read_timeout (a slowloris client is cut off);
//  - beast's parser stops at header_limit: 431, then close (memory bounded by the limit);
//  - requests are read one after the other from one buffer: pipelined requests are all answered.
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded (GCC 12)

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <malloc.h>
#include <signal.h>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "kleak/bounded_read.h"
#include "kleak/error.h"
#include "kleak/serve.h"

namespace kleak {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

class SessionBase;

// bcrypt checks, off the event loop: at cost 10 one takes ~68 ms, and on the loop thread a flood
// of 200 wrong passwords (20 at a time) held every scrape for 1.3-2.1 s. One worker thread, at a
// lower priority than the loop, and a bounded queue: past it a request is answered 429 at once
// instead of queueing without end. A scraper's credentials, once verified, are cached (as
// exporter-toolkit does) and never queue again.
class Verifier {
 public:
  explicit Verifier(size_t max_queued) : max_queued_(max_queued) {
    // No signals here either (see the loop thread in HttpServer): SIGINT delivered to this
    // thread would end kleak with the default action instead of reaching the tracer.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    thread_ = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  ~Verifier() { stop(); }
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // Queues `job` (run on the worker thread); false when `max_queued` jobs are waiting.
  bool submit(std::function<void()> job) {
    std::lock_guard lk(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(job));
    cv_.notify_one();
    return true;
  }
  // Joins the worker; jobs still queued are dropped unrun.
  void stop() {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lk(mu_);
    queue_.clear();
  }

 private:
  void run() {
    // Niced: bcrypt must not take the CPU from the loop and the tracer on a small box.
    setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;  // started once the rest is ready
};

// Everything the sessions share; touched only on the loop thread except `served` (mutex) and
// what the tracer says for the probes (atomics).
struct Shared {
  WebConfig config;
  ServerLimits limits;
  std::mutex mu;
  std::shared_ptr<const Served> served;  // null until the first sample
  std::atomic<TracerHealth::Phase> phase{TracerHealth::Phase::attaching};
  std::atomic<int64_t> beat_ns{0};  // steady_clock, when the trace loop last turned
  size_t connections = 0;
  // Sessions waiting for (the rest of) a request, oldest wait first: evicted at the cap.
  std::list<std::weak_ptr<SessionBase>> waiting;
  // SHA-256 of "user:password" pairs that passed bcrypt: a scraper's credentials are checked
  // once (exporter-toolkit caches likewise). Only the loop thread reads and fills it.
  std::unordered_set<std::string> good_credentials;
  // Set when basic_auth_users is: where bcrypt runs (Verifier above).
  std::unique_ptr<Verifier> verifier;
};

std::string sha256(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), n);
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 4096) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = in.ends_with("==") ? 2 : in.ends_with('=') ? 1 : 0;  // EVP_DecodeBlock keeps padding as 0s
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// A request's Basic credentials, and the key they are cached under.
struct Credentials {
  std::string user, password, key;
};

enum class Auth { Granted, Denied, Verify };

// What the loop thread can tell without bcrypt: no auth configured or credentials cached
// (Granted), no or malformed credentials (Denied), or credentials bcrypt must check (Verify,
// `cred` filled).
Auth check_auth(const Shared& sh, std::string_view header, Credentials& cred) {
  if (sh.config.basic_auth_users.empty()) return Auth::Granted;
  constexpr std::string_view kBasic = "Basic ";
  if (header.size() <= kBasic.size() || !beast::iequals(beast::string_view(header.data(), kBasic.size()), beast::string_view(kBasic.data(), kBasic.size()))) return Auth::Denied;
  auto decoded = base64_decode(header.substr(kBasic.size()));
  if (!decoded) return Auth::Denied;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return Auth::Denied;
  cred.key = sha256(*decoded);
  if (sh.good_credentials.count(cred.key)) return Auth::Granted;
  cred.user = decoded->substr(0, colon);
  cred.password = decoded->substr(colon + 1);
  return Auth::Verify;
}

// bcrypt: on the Verifier's thread (reads the config only, which nothing changes once serving).
bool verify(const WebConfig& config, const Credentials& cred) {
  auto it = config.basic_auth_users.find(cred.user);
  // An unknown user costs a bcrypt too, so timing does not tell which users exist.
  static const std::string kDummy = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
  bool known = it != config.basic_auth_users.end();
  return bcrypt_matches(cred.password, known ? it->second : kDummy) && known;
}

// On the loop thread, with bcrypt's answer.
void remember(Shared& sh, const Credentials& cred) {
  if (sh.good_credentials.size() >= 1024) sh.good_credentials.clear();
  sh.good_credentials.insert(cred.key);
}

using Request = http::request<http::empty_body>;
using Response = http::response<http::string_body>;

Response plain(const Request& req, http::status st, std::string body) {
  Response res{st, req.version()};
  res.set(http::field::server, "kleak");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  return res;
}

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string_view path_of(const Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  return target.substr(0, target.find('?'));
}

bool is_probe(std::string_view path) { return path == "/healthz" || path == "/readyz"; }

// Only GET and HEAD: nullopt for them, 405 for any other method.
std::optional<Response> refuse_method(const Request& req) {
  if (req.method() == http::verb::get || req.method() == http::verb::head) return std::nullopt;
  Response res = plain(req, http::status::method_not_allowed, "only GET and HEAD\n");
  res.set(http::field::allow, "GET, HEAD");
  return res;
}

// /healthz and /readyz, answered before authentication (serve.h says why).
Response probe(Shared& sh, const Request& req, std::string_view path) {
  if (auto refused = refuse_method(req)) return *refused;
  TracerHealth h;
  h.phase = sh.phase.load();
  h.since_beat = std::chrono::nanoseconds(steady_ns() - sh.beat_ns.load());
  {
    std::lock_guard lk(sh.mu);
    h.sampled = sh.served != nullptr;
  }
  ProbeAnswer a = answer_probe(h, path == "/readyz");
  Response res = plain(req, static_cast<http::status>(a.status), std::move(a.body));
  if (a.retry_after > 0) res.set(http::field::retry_after, std::to_string(a.retry_after));
  res.set(http::field::cache_control, "no-store");
  return res;
}

Response unauthorized(const Request& req) {
  Response res = plain(req, http::status::unauthorized, "Unauthorized\n");
  res.set(http::field::www_authenticate, "Basic realm=\"kleak\"");
  return res;
}

// An authorized request's answer.
Response route(Shared& sh, const Request& req) {
  if (auto refused = refuse_method(req)) return *refused;
  std::string_view target = path_of(req);
  bool metrics = target == "/metrics", profile = target == "/debug/pprof/heap" || target == "/profile";
  if (!metrics && !profile) {
    if (target == "/")
      return plain(req, http::status::ok,
                   "kleak: /metrics (Prometheus), /debug/pprof/heap (pprof, outstanding memory; also /profile), "
                   "/healthz and /readyz (probes)\n");
    return plain(req, http::status::not_found, "not found\n");
  }
  std::shared_ptr<const Served> s;
  {
    std::lock_guard lk(sh.mu);
    s = sh.served;
  }
  if (!s) {  // before the first sample: nothing measured yet, not an empty success
    Response res = plain(req, http::status::service_unavailable, "kleak: no sample yet\n");
    res.set(http::field::retry_after, "1");
    return res;
  }
  Response res = plain(req, http::status::ok, metrics ? s->metrics : s->profile);
  if (metrics) {
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  } else {
    res.set(http::field::content_type, "application/octet-stream");
    res.set(http::field::content_disposition, "attachment; filename=\"heap\"");
  }
  return res;
}

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  explicit SessionBase(Shared& sh) : sh_(sh) { ++sh_.connections; }
  virtual ~SessionBase() {
    stop_waiting();
    uncount();
  }
  // Closes the connection to make room for a new one. The session leaves the waiting list and
  // the count now, not when its aborted read completes later: the list entry erased twice was a
  // use-after-free (measured: kleak died of SIGSEGV at the 257th idle connection), and a count
  // that lagged made one new connection evict every waiting one.
  void evict() {
    stop_waiting();
    uncount();
    close_socket();
  }

 protected:
  virtual void close_socket() = 0;
  void uncount() {
    if (counted_) --sh_.connections;
    counted_ = false;
  }
  void start_waiting() {
    stop_waiting();
    waiting_ = sh_.waiting.insert(sh_.waiting.end(), weak_from_this());
    is_waiting_ = true;
  }
  void stop_waiting() {
    if (is_waiting_) sh_.waiting.erase(waiting_);
    is_waiting_ = false;
  }
  Shared& sh_;

 private:
  std::list<std::weak_ptr<SessionBase>>::iterator waiting_;
  bool is_waiting_ = false;
  bool counted_ = true;
};

// One connection; Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class Session : public SessionBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  Session(Shared& sh, Args&&... args) : SessionBase(sh), stream_(std::forward<Args>(args)...) {}

  void start() {
    start_waiting();
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(sh_.limits.handshake_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = self()](beast::error_code ec) {
        if (ec) return;  // a failed handshake: nothing to say over a broken channel
        self->read();
      });
    } else {
      read();
    }
  }

 private:
  void close_socket() override { beast::get_lowest_layer(stream_).close(); }

  std::shared_ptr<Session> self() { return std::static_pointer_cast<Session>(shared_from_this()); }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(sh_.limits.header_limit));
    parser_->body_limit(4096);
    start_waiting();
    beast::get_lowest_layer(stream_).expires_after(sh_.limits.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = self()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    stop_waiting();
    if (ec == http::error::header_limit) return reply_and_close(http::status::request_header_fields_too_large);
    if (ec == http::error::body_limit) return reply_and_close(http::status::payload_too_large);
    if (ec && ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message)
      return reply_and_close(http::status::bad_request);
    if (ec) return close();  // timeout, reset, end of stream: nobody to answer
    const Request& req = parser_->get();
    if (std::string_view path = path_of(req); is_probe(path)) return respond(probe(sh_, req, path));
    auto header = req[http::field::authorization];
    Credentials cred;
    switch (check_auth(sh_, std::string_view(header.data(), header.size()), cred)) {
      case Auth::Granted: return respond(route(sh_, req));
      case Auth::Denied: return respond(unauthorized(req));
      case Auth::Verify: break;
    }
    // bcrypt on the Verifier's thread; the answer comes back to this session's executor. The
    // session is moved, not copied, into the completion: its last reference is never dropped
    // on the worker thread (its destructor touches Shared, the loop thread's).
    auto ex = stream_.get_executor();
    bool queued = sh_.verifier->submit([self = self(), cred, ex]() mutable {
      bool ok = verify(self->sh_.config, cred);
      net::post(ex, [self = std::move(self), cred = std::move(cred), ok] {
        if (ok) remember(self->sh_, cred);
        const Request& req = self->parser_->get();
        self->respond(ok ? route(self->sh_, req) : unauthorized(req));
      });
    });
    if (!queued) {  // a flood of unverified passwords: refused at once, not queued
      Response res = plain(req, http::status::too_many_requests, "too many password checks pending\n");
      res.set(http::field::retry_after, "1");
      respond(std::move(res));
    }
  }

  void respond(Response res) {
    res_ = std::move(res);
    const Request& req = parser_->get();
    res_.keep_alive(req.keep_alive());
    head_ = req.method() == http::verb::head;
    write();
  }

  void reply_and_close(http::status st) {
    head_ = false;
    Request req;
    req.version(11);
    res_ = plain(req, st, std::string(http::obsolete_reason(st)) + "\n");
    res_.keep_alive(false);
    write();
  }

  void write() {
    res_.prepare_payload();
    if (head_) {  // HEAD: GET's headers (its Content-Length too), no body
      auto n = res_.body().size();
      res_.body().clear();
      res_.content_length(n);
      head_ = false;  // the next request on the connection is its own
    }
    beast::get_lowest_layer(stream_).expires_after(sh_.limits.write_timeout);
    http::async_write(stream_, res_, [self = self()](beast::error_code ec, size_t) {
      if (ec) return;
      if (!self->res_.keep_alive()) return self->close();
      self->read();  // the next request, possibly already in the buffer (pipelining)
    });
  }

  void close() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = self()](beast::error_code) {});
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  Stream stream_;
  beast::flat_buffer buffer_{64 * 1024};  // bounded: pipelined requests queue here
  std::optional<http::request_parser<http::empty_body>> parser_;
  Response res_;
  bool head_ = false;  // the response answers a HEAD
};

int tls_version(const std::string& v) {
  if (v == "TLS10") return TLS1_VERSION;
  if (v == "TLS11") return TLS1_1_VERSION;
  if (v == "TLS12") return TLS1_2_VERSION;
  return TLS1_3_VERSION;
}

std::string ssl_error() {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return buf;
}

void configure_tls(ssl::context& ctx, const TlsServerConfig& t) {
  // OpenSSL reads these files itself, without a bound: a FIFO or /dev/zero named in the config
  // is refused first, as the config itself is (bounded_read.h).
  check_regular_file(t.cert_file, kCapTlsFile, "a TLS certificate file");
  check_regular_file(t.key_file, kCapTlsFile, "a TLS key file");
  if (!t.client_ca_file.empty()) check_regular_file(t.client_ca_file, kCapTlsFile, "a TLS CA file");
  SSL_CTX* c = ctx.native_handle();
  if (SSL_CTX_use_certificate_chain_file(c, t.cert_file.c_str()) != 1)
    throw usage_error("web config: cannot load cert_file " + t.cert_file + ": " + ssl_error());
  if (SSL_CTX_use_PrivateKey_file(c, t.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    throw usage_error("web config: cannot load key_file " + t.key_file + ": " + ssl_error());
  if (SSL_CTX_check_private_key(c) != 1)
    throw usage_error("web config: key_file " + t.key_file + " does not match cert_file " + t.cert_file);
  SSL_CTX_set_min_proto_version(c, tls_version(t.min_version));
  if (!t.max_version.empty()) SSL_CTX_set_max_proto_version(c, tls_version(t.max_version));
  if (!t.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c, t.client_ca_file.c_str(), nullptr) != 1)
      throw usage_error("web config: cannot load client_ca_file " + t.client_ca_file + ": " + ssl_error());
    SSL_CTX_set_client_CA_list(c, SSL_load_client_CA_file(t.client_ca_file.c_str()));
  }
  // Go's tls.ClientAuthType, mapped onto OpenSSL's verify flags.
  const std::string& a = t.client_auth_type;
  auto accept_any = [](int, X509_STORE_CTX*) { return 1; };
  if (a == "RequestClientCert") SSL_CTX_set_verify(c, SSL_VERIFY_PEER, accept_any);
  else if (a == "RequireAnyClientCert") SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
  else if (a == "VerifyClientCertIfGiven") SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  else if (a == "RequireAndVerifyClientCert") SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  else SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  // With peers verified, OpenSSL refuses to resume a session cached without a context
  // (SSL_R_SESSION_ID_CONTEXT_UNINITIALIZED): a scraper reconnecting with a ticket would fail.
  static const unsigned char kContext[] = "kleak";
  SSL_CTX_set_session_id_context(c, kContext, sizeof kContext - 1);
}

}  // namespace

struct HttpServer::Impl {
  // Declared before the io_context: sessions destroyed with the loop still use both.
  Shared shared;
  ssl::context tls_ctx{ssl::context::tls_server};
  bool tls = false;
  bool loopback = true;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  int port = 0;

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket sock) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) admit(std::move(sock));
      accept();
    });
  }

  void admit(tcp::socket sock) {
    // At the cap, the connection that has waited longest for its request makes room: an idle or
    // slowloris client cannot keep a scraper out.
    while (shared.connections >= shared.limits.max_connections && !shared.waiting.empty()) {
      if (auto victim = shared.waiting.front().lock()) victim->evict();  // erases its own entry
      else shared.waiting.pop_front();  // cannot happen (a session leaves the list as it dies)
    }
    if (shared.connections >= shared.limits.max_connections) return;  // all busy writing: refuse
    sock.set_option(tcp::no_delay(true));
    if (tls) {
      auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(shared, std::move(sock), tls_ctx);
      s->start();
    } else {
      auto s = std::make_shared<Session<beast::tcp_stream>>(shared, std::move(sock));
      s->start();
    }
  }
};

HttpServer::HttpServer(const ListenAddress& addr, WebConfig config, ServerLimits limits)
    : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  if (config.tls) {
    configure_tls(im.tls_ctx, *config.tls);
    im.tls = true;
  }
  im.shared.config = std::move(config);
  im.shared.limits = limits;
  // Fewer queued checks than connections: past the queue, requests are refused at once and
  // their connections wait (evictable) instead of filling the connection cap.
  if (!im.shared.config.basic_auth_users.empty())
    im.shared.verifier = std::make_unique<Verifier>(std::max<size_t>(1, limits.max_connections / 8));
  beast::error_code ec;
  tcp::resolver resolver(im.ioc);
  auto results = resolver.resolve(addr.host, std::to_string(addr.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) throw usage_error("--serve: cannot resolve '" + addr.host + "': " + ec.message());
  tcp::endpoint ep = results.begin()->endpoint();
  im.loopback = ep.address().is_loopback();
  im.acceptor.open(ep.protocol(), ec);
  if (!ec) im.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) im.acceptor.bind(ep, ec);
  if (!ec) im.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw Error("cannot listen on " + addr.host + ":" + std::to_string(addr.port) + ": " + ec.message());
  im.port = im.acceptor.local_endpoint().port();
  im.accept();
  // The loop thread takes no signals: SIGINT/SIGTERM must reach the tracer's sigtimedwait (a
  // thread with them unblocked gets them and dies with the default action: measured, exit 130).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  im.thread = std::thread([&im] { im.ioc.run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

HttpServer::~HttpServer() {
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Before the io_context goes: a check in flight posts its answer there (never run, destroyed
  // with the loop's other handlers on this thread).
  if (impl_->shared.verifier) impl_->shared.verifier->stop();
}

void HttpServer::publish(Served s) {
  auto p = std::make_shared<const Served>(std::move(s));
  {
    std::lock_guard lk(impl_->shared.mu);
    impl_->shared.served.swap(p);
  }
  p.reset();  // the previous sample, outside the lock
  // A daemon samples every few seconds and each sample's drain, report and renders free tens of
  // MB (a full map: 262144 records); glibc keeps freed heap pages and RSS climbed in steps over
  // a soak. Returning them here costs a few ms per sample.
  malloc_trim(0);
}

void HttpServer::attached(bool yes) {
  beat();  // the stall is counted from attach, not from the server's start
  impl_->shared.phase = yes ? TracerHealth::Phase::attached : TracerHealth::Phase::detached;
}

void HttpServer::beat() { impl_->shared.beat_ns = steady_ns(); }

int HttpServer::port() const { return impl_->port; }
bool HttpServer::tls() const { return impl_->tls; }

std::string HttpServer::exposure_warning() const {
  if (impl_->loopback) return "";
  bool auth = !impl_->shared.config.basic_auth_users.empty();
  if (impl_->tls && auth) return "";
  std::string missing = !impl_->tls && !auth ? "neither TLS nor authentication" : !impl_->tls ? "no TLS (passwords cross in clear)" : "no authentication";
  return "--serve listens beyond this machine with " + missing +
         ": whoever connects reads kernel symbols and process names (--web.config.file sets TLS and basic auth)";
}

}  // namespace kleak

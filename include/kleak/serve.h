// Serving the current state of a long trace over HTTP, for Prometheus and pprof-ingesting
// backends: /metrics (Prometheus text format, bounded cardinality) and /debug/pprof/heap (the
// outstanding-memory profile, every group; /profile is an alias); and the probes' /healthz and
// /readyz (Kubernetes, load balancers).
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/report.h"

namespace kleak {

// --- the exporter-toolkit web configuration file (--web.config.file), the format Prometheus
// itself and its exporters read: https://prometheus.io/docs/prometheus/latest/configuration/https/
struct TlsServerConfig {
  std::string cert_file, key_file, client_ca_file;
  // NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven,
  // RequireAndVerifyClientCert (the default when client_ca_file is given).
  std::string client_auth_type = "NoClientCert";
  std::string min_version = "TLS12", max_version;  // TLS10..TLS13; "" = the newest
};
struct WebConfig {
  std::optional<TlsServerConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash ($2y$, $2b$, $2a$)
  std::vector<std::string> warnings;  // settings read but not applied (cipher_suites, ...)
};
// Pure: YAML text -> config; kleak::usage_error (one line, naming the key) on anything wrong.
WebConfig parse_web_config(const std::string& yaml_text);
WebConfig load_web_config(const std::string& path);  // reads and parses the file
// bcrypt check with libxcrypt's crypt_r (constant-time comparison of the result).
bool bcrypt_matches(const std::string& password, const std::string& hash);

// --serve's argument: "HOST:PORT", "[V6]:PORT", or ":PORT" (= 127.0.0.1: loopback by default).
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
ListenAddress parse_listen_address(const std::string& addr);  // kleak::usage_error

// Bounds on what a client may cost. Connections are served by one event loop thread (Boost.Beast
// on asio): an idle connection costs a socket and a few KiB, never a thread.
struct ServerLimits {
  size_t max_connections = 256;   // beyond this, the longest-waiting reader is closed
  size_t header_limit = 8192;     // request line + headers; more gets 431
  std::chrono::milliseconds read_timeout{10'000};   // a whole request (headers) must arrive in this
  std::chrono::milliseconds write_timeout{10'000};
  std::chrono::milliseconds handshake_timeout{10'000};  // TLS
};

// What the HTTP thread serves: replaced whole at every sample.
struct Served {
  std::string metrics;
  std::string profile;  // gzipped pprof
};

// --- the probes: /healthz (liveness) and /readyz (readiness), the names Kubernetes' own
// components serve (kube-apiserver: /healthz, /livez, /readyz); Prometheus' /-/healthy and
// /-/ready would pair a second convention with /healthz. Both answer without credentials, even
// when basic auth is on: a kubelet probe sends none unless a password is written into the pod
// spec in clear, and each answer is "ok" or why not, nothing measured (docs/operations.md).
//
// The trace loop turns at least every 200 ms; its slowest turn measured is a full map's sample
// under qemu TCG (81-88 % of its 5 s period, about 4.4 s). A loop silent for 30 s is stuck, not
// slow: a restart is then worth the window it loses.
inline constexpr std::chrono::seconds kLoopStallLimit{30};

// What the tracer told the server, read when a probe arrives.
struct TracerHealth {
  enum class Phase { attaching, attached, detached } phase = Phase::attaching;
  std::chrono::nanoseconds since_beat{0};  // since the trace loop last turned
  bool sampled = false;                    // a first sample is published (/metrics says 200)
};
struct ProbeAnswer {
  int status = 200;     // 200 or 503
  std::string body;     // "ok\n", or why not in one line
  int retry_after = 0;  // seconds, for a Retry-After header (0: none)
};
// Pure: /healthz is 200 while the programs are attached and the loop turned within
// kLoopStallLimit; /readyz is that and a first sample. `readiness` picks /readyz.
ProbeAnswer answer_probe(const TracerHealth& h, bool readiness);

// A listening HTTP(S) server on its own thread; stops and joins on destruction. Until the first
// publish() it answers 503 with Retry-After.
class HttpServer {
 public:
  // Throws kleak::usage_error on a bad config and kleak::Error when it cannot listen.
  HttpServer(const ListenAddress& addr, WebConfig config, ServerLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void publish(Served s);
  // The tracer's side of /healthz and /readyz: attached(true) once its programs are attached,
  // beat() at every turn of its loop (one atomic store), attached(false) before it detaches.
  void attached(bool yes);
  void beat();
  int port() const;  // the bound port (useful with port 0)
  bool tls() const;
  // Set when the address is reachable from other machines without TLS or without
  // authentication: what is missing, for a warning ("" when loopback or both are on).
  std::string exposure_warning() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kleak

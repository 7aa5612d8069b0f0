// Serving the current state of a long trace over HTTP, for Prometheus and pprof-ingesting
// backends: /metrics (Prometheus text format, bounded cardinality) and /profile (pprof of the
// latest report, where kleak is built with it).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "kleak/report.h"

namespace kleak {

struct MetricsOptions {
  size_t top = 20;  // stacks exported as labelled series, by growth: the cardinality bound
};

// Prometheus text exposition format (version 0.0.4) of a report.
std::string render_metrics(const Report& r, const MetricsOptions& opts, double events_per_s);

// What the HTTP thread serves: replaced whole at every sample.
struct Served {
  std::string metrics;
  std::string profile;  // gzipped pprof, "" when not available
};

// A listening HTTP server on its own thread; stops and joins on destruction.
class HttpServer {
 public:
  // `addr` is "HOST:PORT" (IPv4 or [IPv6]); throws kleak::usage_error on a bad address and
  // kleak::Error when it cannot listen.
  explicit HttpServer(const std::string& addr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void publish(Served s);
  int port() const;  // the bound port (useful with port 0)

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kleak

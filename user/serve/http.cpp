// The HTTP endpoint: cpp-httplib (Debian's libcpp-httplib-dev) on its own thread.
#include <httplib.h>

#include <thread>

#include "kleak/error.h"
#include "kleak/serve.h"

namespace kleak {

struct HttpServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::mutex mu;
  Served served;
  int port = 0;
};

HttpServer::HttpServer(const std::string& addr) : impl_(std::make_unique<Impl>()) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size())
    throw usage_error("bad --serve '" + addr + "' (use HOST:PORT, e.g. 127.0.0.1:9464)");
  std::string host = addr.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(addr.substr(colon + 1), &used);
    if (used != addr.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw usage_error("bad port in --serve '" + addr + "'");
  }
  Impl* im = impl_.get();
  im->server.Get("/metrics", [im](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lk(im->mu);
    res.set_content(im->served.metrics, "text/plain; version=0.0.4; charset=utf-8");
  });
  im->server.Get("/profile", [im](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lk(im->mu);
    if (im->served.profile.empty()) {
      res.status = 404;
      res.set_content("no profile yet\n", "text/plain");
      return;
    }
    res.set_content(im->served.profile, "application/octet-stream");
  });
  im->server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("kleak: /metrics (Prometheus), /profile (pprof)\n", "text/plain");
  });
  im->port = port == 0 ? im->server.bind_to_any_port(host) : (im->server.bind_to_port(host, port) ? port : -1);
  if (im->port < 0) throw Error("cannot listen on " + addr);
  im->thread = std::thread([im] { im->server.listen_after_bind(); });
}

HttpServer::~HttpServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void HttpServer::publish(Served s) {
  std::lock_guard lk(impl_->mu);
  impl_->served = std::move(s);
}

int HttpServer::port() const { return impl_->port; }

}  // namespace kleak

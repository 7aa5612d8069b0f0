// The exporter-toolkit web configuration file (what Prometheus and its exporters read with
// --web.config.file), parsed with yaml-cpp (Debian's libyaml-cpp-dev, which ships a static
// archive), and bcrypt checks with libxcrypt's crypt_r (libcrypt: $2y$/$2b$/$2a$).
#include <crypt.h>
#include <openssl/crypto.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "kleak/bounded_read.h"
#include "kleak/error.h"
#include "kleak/serve.h"

namespace kleak {

namespace {

Error config_error(const std::string& what) { return usage_error("web config: " + what); }

std::string scalar(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) throw config_error(key + " must be a string");
  return n.as<std::string>();
}

// Go's exporter-toolkit unmarshals strictly: an unknown key is an error there, so here too (a
// typo in "basic_auth_users" must not leave the endpoint open).
void check_keys(const YAML::Node& map, const std::string& where, const std::set<std::string>& known) {
  if (!map.IsMap()) throw config_error(where + " must be a mapping");
  for (const auto& kv : map) {
    std::string k = kv.first.as<std::string>();
    if (!known.count(k)) throw config_error("unknown key '" + k + "' in " + where);
  }
}

const std::set<std::string> kTlsVersions{"TLS10", "TLS11", "TLS12", "TLS13"};
const std::set<std::string> kClientAuth{"NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                                        "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"};

TlsServerConfig parse_tls(const YAML::Node& t, std::vector<std::string>& warnings) {
  check_keys(t, "tls_server_config",
             {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version",
              "cipher_suites", "prefer_server_cipher_suites", "curve_preferences", "client_allowed_sans"});
  TlsServerConfig c;
  if (t["cert_file"]) c.cert_file = scalar(t["cert_file"], "cert_file");
  if (t["key_file"]) c.key_file = scalar(t["key_file"], "key_file");
  if (c.cert_file.empty() || c.key_file.empty())
    throw config_error("tls_server_config needs both cert_file and key_file");
  if (t["client_ca_file"]) c.client_ca_file = scalar(t["client_ca_file"], "client_ca_file");
  // As in exporter-toolkit: a CA without an explicit type means client certificates are required.
  if (!c.client_ca_file.empty()) c.client_auth_type = "RequireAndVerifyClientCert";
  if (t["client_auth_type"]) c.client_auth_type = scalar(t["client_auth_type"], "client_auth_type");
  if (!kClientAuth.count(c.client_auth_type))
    throw config_error("client_auth_type '" + c.client_auth_type + "' is not one of NoClientCert, "
                       "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert");
  bool verifies = c.client_auth_type == "VerifyClientCertIfGiven" || c.client_auth_type == "RequireAndVerifyClientCert";
  if (verifies && c.client_ca_file.empty())
    throw config_error("client_auth_type " + c.client_auth_type + " needs client_ca_file");
  for (auto [key, field] : {std::pair{"min_version", &c.min_version}, std::pair{"max_version", &c.max_version}}) {
    if (!t[key]) continue;
    *field = scalar(t[key], key);
    if (!kTlsVersions.count(*field)) throw config_error(std::string(key) + " '" + *field + "' is not TLS10..TLS13");
  }
  if (!c.max_version.empty() && c.max_version < c.min_version)
    throw config_error("max_version " + c.max_version + " is below min_version " + c.min_version);
  // Go cipher suite and curve names do not map onto OpenSSL's: OpenSSL's defaults are used.
  for (const char* k : {"cipher_suites", "curve_preferences", "client_allowed_sans", "prefer_server_cipher_suites"})
    if (t[k]) warnings.push_back(std::string("tls_server_config.") + k + " is not supported; OpenSSL's defaults apply");
  return c;
}

}  // namespace

WebConfig parse_web_config(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw config_error(std::string("not YAML: ") + e.what());
  }
  WebConfig c;
  if (root.IsNull()) return c;  // an empty file: plain HTTP, no auth (as exporter-toolkit)
  check_keys(root, "the file", {"tls_server_config", "basic_auth_users", "http_server_config"});
  if (root["tls_server_config"] && !root["tls_server_config"].IsNull())
    c.tls = parse_tls(root["tls_server_config"], c.warnings);
  if (const auto& u = root["basic_auth_users"]; u && !u.IsNull()) {
    if (!u.IsMap()) throw config_error("basic_auth_users must map user names to bcrypt hashes");
    for (const auto& kv : u) {
      std::string user = kv.first.as<std::string>(), hash = scalar(kv.second, "basic_auth_users." + user);
      if (hash.rfind("$2", 0) != 0 || hash.size() != 60)
        throw config_error("basic_auth_users." + user + " is not a bcrypt hash (htpasswd -nbBC 10 USER PASS)");
      c.basic_auth_users[user] = hash;
    }
  }
  if (root["http_server_config"]) c.warnings.push_back("http_server_config is not supported (HTTP/1.1 only)");
  return c;
}

WebConfig load_web_config(const std::string& path) {
  // Bounded like every file kleak parses: /dev/zero grew an unbounded read to 3.8 GB in 15 s and
  // a FIFO blocked it until a signal.
  return parse_web_config(read_bounded(path, kCapWebConfig, "a web config"));
}

bool bcrypt_matches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();  // 32 KiB: not on the event loop's stack
  const char* out = crypt_r(password.c_str(), hash.c_str(), data.get());
  // On an invalid setting libxcrypt returns "*0"/"*1" (never the hash itself).
  if (out == nullptr || out[0] == '*') return false;
  std::string_view got(out);
  return got.size() == hash.size() && CRYPTO_memcmp(got.data(), hash.data(), hash.size()) == 0;
}

ListenAddress parse_listen_address(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 == addr.size())
    throw usage_error("bad --serve '" + addr + "' (use [HOST]:PORT, e.g. :9464 or 127.0.0.1:9464)");
  ListenAddress a;
  a.host = addr.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  // A port alone listens on loopback: exposing kernel symbols to the network is a choice.
  if (a.host.empty()) a.host = "127.0.0.1";
  try {
    size_t used = 0;
    int port = std::stoi(addr.substr(colon + 1), &used);
    if (used != addr.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
    a.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    throw usage_error("bad port in --serve '" + addr + "'");
  }
  return a;
}

}  // namespace kleak

// Recordings: save and load (format in recording.h).
#include "kleak/recording.h"

#include <zlib.h>

#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "kleak/error.h"

namespace kleak {

using nlohmann::json;

namespace {

constexpr std::string_view kMagic = "KLEAK-RECORDING 1\n";
constexpr uint64_t kMaxHeader = 1ull << 30;   // 1 GiB of JSON is not a recording
constexpr uint64_t kMaxRecords = 1ull << 28;  // far above any map size kleak allows

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzPtr = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

void put(gzFile f, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
    if (gzwrite(f, p, chunk) != static_cast<int>(chunk)) throw Error("writing " + path + " failed");
    p += chunk;
    n -= chunk;
  }
}

// Reads exactly n bytes, or throws: a short file is a damaged recording.
void get(gzFile f, void* data, size_t n, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (n) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
    int got = gzread(f, p, chunk);
    if (got <= 0) throw usage_error(path + " is not a complete kleak recording (it ends early)");
    p += got;
    n -= static_cast<size_t>(got);
  }
}

json counters_json(const Counters& c) { return json(std::vector<uint64_t>(c.begin(), c.end())); }

}  // namespace

void save_recording(const std::string& path, const Recording& r) {
  const Collected& c = r.collected;
  json h;
  h["record_size"] = sizeof(kleak_alloc);
  h["records"] = c.allocs.size();
  h["kernel"] = r.kernel;
  h["kallsyms"] = r.kallsyms;
  h["sources"] = r.sources;
  h["attach_mode"] = r.attach_mode;
  h["bpf_variant"] = r.bpf_variant;
  h["warnings"] = r.warnings;
  h["filtered_in_kernel"] = r.filtered_in_kernel;
  h["now_ns"] = c.now_ns;
  h["window_start_ns"] = c.window_start_ns;
  h["dropped_in_drain"] = c.dropped_in_drain;
  h["sample_every"] = c.sample_every;
  h["stack_reuse"] = c.stack_reuse;
  h["counters"] = counters_json(c.counters);
  json stacks = json::object();
  for (const auto& [id, frames] : c.stacks) stacks[std::to_string(id)] = frames;
  h["stacks"] = stacks;
  json caches = json::object();
  for (const auto& [k, name] : c.caches) caches[std::to_string(k)] = name;
  h["caches"] = caches;
  json churn = json::array();
  for (const auto& [k, v] : c.churn)
    churn.push_back({k.stack_id, k.tgid, k.cgroup_id, k.cache, std::string(k.comm, strnlen(k.comm, sizeof k.comm)),
                     k.kind, v.allocs, v.frees, v.alloc_bytes, v.free_bytes});
  h["churn"] = churn;
  json progs = json::array();
  for (const auto& p : c.progs) progs.push_back({p.event, p.is_free, p.recursion_misses});
  h["progs"] = progs;
  if (r.meminfo_start) h["meminfo_start"] = json::parse(snapshot_to_json(*r.meminfo_start));
  if (r.meminfo_end) h["meminfo_end"] = json::parse(snapshot_to_json(*r.meminfo_end));
  h["sample_times"] = r.sample_times;
  json series = json::object();
  for (const auto& [id, s] : r.series) {
    json pts = json::array();
    for (auto [i, b] : s) pts.push_back({i, b});
    series[id] = pts;
  }
  h["series"] = series;

  GzPtr f(gzopen(path.c_str(), "wb6"));
  if (!f) throw Error("cannot write " + path + ": " + std::strerror(errno));
  std::string header = h.dump() + "\n";
  put(f.get(), kMagic.data(), kMagic.size(), path);
  put(f.get(), header.data(), header.size(), path);
  for (const auto& rec : c.allocs) {
    put(f.get(), &rec.key, sizeof rec.key, path);
    put(f.get(), &rec.a, sizeof rec.a, path);
  }
  if (gzclose(f.release()) != Z_OK) throw Error("writing " + path + " failed");
}

Recording load_recording(const std::string& path) {
  GzPtr f(gzopen(path.c_str(), "rb"));
  if (!f) throw usage_error("cannot read " + path + ": " + std::strerror(errno));
  std::string magic(kMagic.size(), '\0');
  get(f.get(), magic.data(), magic.size(), path);
  if (magic != kMagic) throw usage_error(path + " is not a kleak recording (bad magic)");
  std::string header;
  for (char ch = 0;;) {
    get(f.get(), &ch, 1, path);
    if (ch == '\n') break;
    header += ch;
    if (header.size() > kMaxHeader) throw usage_error(path + ": recording header too large");
  }
  Recording r;
  try {
    json h = json::parse(header);
    if (h.at("record_size").get<uint64_t>() != sizeof(kleak_alloc))
      throw usage_error(path + ": records of " + h.at("record_size").dump() + " bytes, this kleak reads " +
                        std::to_string(sizeof(kleak_alloc)));
    uint64_t n = h.at("records").get<uint64_t>();
    if (n > kMaxRecords) throw usage_error(path + ": implausible record count " + std::to_string(n));
    Collected& c = r.collected;
    r.kernel = h.at("kernel").get<std::string>();
    r.kallsyms = h.at("kallsyms").get<std::string>();
    r.sources = h.at("sources").get<std::map<std::string, std::string>>();
    r.attach_mode = h.at("attach_mode").get<std::map<std::string, std::string>>();
    r.bpf_variant = h.value("bpf_variant", std::string());
    r.warnings = h.at("warnings").get<std::vector<std::string>>();
    r.filtered_in_kernel = h.at("filtered_in_kernel").get<bool>();
    c.now_ns = h.at("now_ns").get<uint64_t>();
    c.window_start_ns = h.at("window_start_ns").get<uint64_t>();
    c.dropped_in_drain = h.at("dropped_in_drain").get<uint64_t>();
    c.sample_every = h.value("sample_every", 1u);
    c.stack_reuse = h.value("stack_reuse", 1u);
    if (c.sample_every == 0) throw usage_error(path + ": sample_every is 0");
    auto counters = h.at("counters").get<std::vector<uint64_t>>();
    // Older recordings have fewer causes (new ones are appended): the missing ones read 0.
    if (counters.size() > c.counters.size() || counters.size() % KLEAK_KIND_MAX != 0)
      throw usage_error(path + ": counters of another kleak version");
    if (counters.size() < c.counters.size()) {
      size_t old_causes = counters.size() / KLEAK_KIND_MAX;
      std::vector<uint64_t> wide(c.counters.size(), 0);
      for (size_t k = 0; k < KLEAK_KIND_MAX; ++k)
        for (size_t i = 0; i < old_causes; ++i) wide[k * KLEAK_CAUSE_MAX + i] = counters[k * old_causes + i];
      counters = std::move(wide);
    }
    std::copy(counters.begin(), counters.end(), c.counters.begin());
    for (const auto& [id, frames] : h.at("stacks").items())
      c.stacks[static_cast<int32_t>(std::stol(id))] = frames.get<std::vector<uint64_t>>();
    for (const auto& [k, name] : h.at("caches").items()) c.caches[std::stoull(k)] = name.get<std::string>();
    for (const auto& e : h.at("churn")) {
      kleak_churn_key k{};
      kleak_churn v{};
      k.stack_id = e.at(0).get<int32_t>();
      k.tgid = e.at(1).get<uint32_t>();
      k.cgroup_id = e.at(2).get<uint64_t>();
      k.cache = e.at(3).get<uint64_t>();
      std::string comm = e.at(4).get<std::string>();
      std::strncpy(k.comm, comm.c_str(), sizeof k.comm - 1);
      k.kind = e.at(5).get<uint8_t>();
      v.allocs = e.at(6).get<uint64_t>();
      v.frees = e.at(7).get<uint64_t>();
      v.alloc_bytes = e.at(8).get<uint64_t>();
      v.free_bytes = e.at(9).get<uint64_t>();
      c.churn.emplace_back(k, v);
    }
    for (const auto& p : h.at("progs")) c.progs.push_back({p.at(0).get<std::string>(), p.at(1).get<bool>(), p.at(2).get<uint64_t>()});
    if (h.contains("meminfo_start")) r.meminfo_start = snapshot_from_json(h["meminfo_start"].dump());
    if (h.contains("meminfo_end")) r.meminfo_end = snapshot_from_json(h["meminfo_end"].dump());
    r.sample_times = h.at("sample_times").get<std::vector<double>>();
    for (const auto& [id, pts] : h.at("series").items())
      for (const auto& pt : pts) {
        size_t i = pt.at(0).get<size_t>();
        if (i >= r.sample_times.size()) throw usage_error(path + ": a sample index is out of range");
        r.series[id][i] = pt.at(1).get<uint64_t>();
      }
    c.allocs.resize(n);
    for (auto& rec : c.allocs) {
      get(f.get(), &rec.key, sizeof rec.key, path);
      get(f.get(), &rec.a, sizeof rec.a, path);
      if (rec.a.kind >= KLEAK_KIND_MAX) throw usage_error(path + ": a record has an unknown kind");
    }
  } catch (const json::exception& e) {
    throw usage_error(path + " is not a valid kleak recording: " + e.what());
  } catch (const std::invalid_argument&) {
    throw usage_error(path + " is not a valid kleak recording: bad number");
  } catch (const std::out_of_range&) {
    throw usage_error(path + " is not a valid kleak recording: number out of range");
  }
  return r;
}

}  // namespace kleak

// Recordings: save and load (format in recording.h).
#include "kleak/recording.h"

#include <zlib.h>

#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>

#include "kleak/bounded_read.h"
#include "kleak/error.h"
#include "kleak/gzip.h"
#include "kleak/output_file.h"
#include "kleak/text_escape.h"

namespace kleak {

using nlohmann::json;

namespace {

constexpr std::string_view kMagicPrefix = "KLEAK-RECORDING ";
constexpr std::string_view kFooterPrefix = "KLEAK-END crc32=";
constexpr size_t kFooterSize = kFooterPrefix.size() + 8 + 1;
constexpr int kMaxJsonDepth = 16;  // the header nests 4 deep (series -> id -> point -> value)
constexpr size_t kRecordBytes = sizeof(AllocRecord::key) + sizeof(AllocRecord::a);

std::string magic_line() { return std::string(kMagicPrefix) + std::to_string(kRecordingFormat) + "\n"; }

uint32_t crc_of(uint32_t crc, const void* p, size_t n) {
  const Bytef* b = static_cast<const Bytef*>(p);
  while (n) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = static_cast<uint32_t>(crc32(crc, b, chunk));
    b += chunk;
    n -= chunk;
  }
  return crc;
}

// The decompressed stream, pulled on demand with zlib's streaming inflate so nothing bigger
// than what is asked for is ever held: a gzip bomb stops at the first cap it reaches.
class Inflater {
 public:
  Inflater(std::string_view in, const std::string& name) : name_(name) {
    if (inflateInit2(&z_, 15 + 16) != Z_OK) throw Error("zlib: inflateInit2 failed");
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    in_left_ = in.size();
  }
  ~Inflater() { inflateEnd(&z_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Exactly n bytes into dst (checksummed unless `footer`), or a one-line error.
  void read(void* dst, size_t n, bool footer = false) {
    char* out = static_cast<char*>(dst);
    while (n) {
      if (pos_ == buf_.size() && !fill()) throw damaged("it ends early (truncated)");
      size_t take = std::min(n, buf_.size() - pos_);
      std::memcpy(out, buf_.data() + pos_, take);
      if (!footer) crc_ = crc_of(crc_, buf_.data() + pos_, take);
      pos_ += take;
      out += take;
      n -= take;
    }
  }

  // Up to and without '\n'; longer than `cap` is an error naming `what`.
  std::string read_line(uint64_t cap, std::string_view what) {
    std::string line;
    for (;;) {
      if (pos_ == buf_.size() && !fill()) throw damaged("it ends early (truncated)");
      const char* start = buf_.data() + pos_;
      const void* nl = std::memchr(start, '\n', buf_.size() - pos_);
      size_t take = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) + 1 : buf_.size() - pos_;
      if (line.size() + take > cap + 1)
        throw usage_error(fmt::format("{}: the {} is longer than {}, the cap for it", name_, what, format_cap(cap)));
      line.append(start, take);
      crc_ = crc_of(crc_, start, take);
      pos_ += take;
      if (nl) {
        line.pop_back();
        return line;
      }
    }
  }

  // After the footer: the gzip member must end here (zlib then checks its CRC and length) and
  // nothing may follow it.
  void expect_end() {
    if (pos_ != buf_.size() || fill()) throw damaged("bytes follow the end of the recording");
    if (in_left_ != 0 || z_.avail_in != 0) throw damaged("bytes follow the gzip stream");
  }

  uint32_t crc() const { return crc_; }
  uint64_t compressed_left() const { return in_left_ + z_.avail_in; }

  Error damaged(const std::string& why) const {
    return usage_error(fmt::format("{} is not a complete kleak recording: {}", name_, why));
  }

 private:
  // Inflates the next chunk; false at the end of the gzip member.
  bool fill() {
    if (done_) return false;
    check_stop("reading " + name_);
    buf_.resize(kChunk);
    pos_ = 0;
    z_.next_out = reinterpret_cast<Bytef*>(buf_.data());
    z_.avail_out = kChunk;
    while (z_.avail_out == kChunk) {
      if (z_.avail_in == 0 && in_left_) {
        z_.avail_in = static_cast<uInt>(std::min<uint64_t>(in_left_, 1u << 30));
        in_left_ -= z_.avail_in;
      }
      int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        done_ = true;
        break;
      }
      if (rc == Z_BUF_ERROR && z_.avail_in == 0 && in_left_ == 0) throw damaged("the gzip stream ends early (truncated)");
      if (rc != Z_OK) {
        if (z_.total_in < 10 && z_.total_out == 0) throw usage_error(name_ + " is not a kleak recording (not gzip)");
        throw damaged(std::string("gzip: ") + (z_.msg ? z_.msg : "data error"));
      }
    }
    buf_.resize(kChunk - z_.avail_out);
    return !buf_.empty() || !done_;
  }

  static constexpr uInt kChunk = 256u << 10;
  std::string name_;
  z_stream z_{};
  uint64_t in_left_ = 0;
  std::string buf_;
  size_t pos_ = 0;
  bool done_ = false;
  uint32_t crc_ = 0;
};

// Parses the header, refusing nesting deeper than kMaxJsonDepth (nlohmann's parser recurses).
json parse_header(const std::string& text, const std::string& name) {
  json::parser_callback_t depth_cap = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth)
      throw usage_error(fmt::format("{}: the header nests deeper than {} levels, the cap for it", name, kMaxJsonDepth));
    return true;
  };
  return json::parse(text, depth_cap);
}

json series_json(const std::map<std::string, std::map<size_t, uint64_t>>& s) {
  json out = json::object();
  for (const auto& [id, pts] : s) {
    json a = json::array();
    for (auto [i, b] : pts) a.push_back({i, b});
    out[id] = a;
  }
  return out;
}

std::map<std::string, std::map<size_t, uint64_t>> series_from_json(const json& j, size_t samples,
                                                                  const std::string& path) {
  std::map<std::string, std::map<size_t, uint64_t>> out;
  for (const auto& [id, pts] : j.items())
    for (const auto& pt : pts) {
      size_t i = pt.at(0).get<size_t>();
      if (i >= samples) throw usage_error(path + ": a sample index is out of range");
      out[id][i] = pt.at(1).get<uint64_t>();
    }
  return out;
}

json counters_json(const Counters& c) { return json(std::vector<uint64_t>(c.begin(), c.end())); }

}  // namespace

std::string recording_bytes(const Recording& r) {
  const Collected& c = r.collected;
  json h;
  h["record_size"] = sizeof(kleak_alloc);
  h["records"] = c.allocs.size();
  h["kernel"] = r.kernel;
  h["kallsyms"] = r.kallsyms;
  h["sources"] = r.sources;
  h["attach_mode"] = r.attach_mode;
  h["bpf_variant"] = r.bpf_variant;
  if (!r.cache_aliases.empty()) h["cache_aliases"] = r.cache_aliases;
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
  h["series"] = series_json(r.series);
  h["ledgers"] = series_json(r.ledgers);
  h["ledgers_end"] = r.ledgers_end;
  json unseen = json::object();
  for (auto [id, n] : c.unseen_frees) unseen[std::to_string(id)] = n;
  h["unseen_frees"] = unseen;

  // A comm is any bytes its process chose: not valid UTF-8, it is stored with U+FFFD (JSON
  // cannot carry it), where dump() would throw and lose the whole recording.
  std::string payload = magic_line() + h.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  payload.reserve(payload.size() + c.allocs.size() * kRecordBytes + kFooterSize);
  for (const auto& rec : c.allocs) {
    payload.append(reinterpret_cast<const char*>(&rec.key), sizeof rec.key);
    payload.append(reinterpret_cast<const char*>(&rec.a), sizeof rec.a);
  }
  payload += fmt::format("{}{:08x}\n", kFooterPrefix, crc_of(0, payload.data(), payload.size()));
  return gzip(payload);
}

void save_recording(const std::string& path, const Recording& r, const OutputOptions& opts) {
  write_file_atomically(path, recording_bytes(r), opts);
}

Recording load_recording(const std::string& path) {
  return parse_recording(read_bounded(path, kCapRecording, "a recording"), path);
}

Recording parse_recording(std::string_view bytes, const std::string& path) {
  Inflater f(bytes, path);
  std::string magic = f.read_line(64, "first line");
  if (!magic.starts_with(kMagicPrefix)) throw usage_error(path + " is not a kleak recording (bad magic)");
  std::string version = magic.substr(kMagicPrefix.size());
  if (version == "1")
    throw usage_error(fmt::format("{}: recording format 1 (kleak before integrity checks) is not read by this kleak, "
                                  "which reads format {}: record it again",
                                  path, kRecordingFormat));
  if (version != std::to_string(kRecordingFormat))
    throw usage_error(fmt::format("{}: recording format '{}' is not one this kleak reads (format {})", path,
                                  escape_text(version.substr(0, 16)), kRecordingFormat));
  std::string header = f.read_line(kMaxRecordingHeader, "header");
  Recording r;
  try {
    json h = parse_header(header, path);
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
    if (h.contains("cache_aliases"))
      r.cache_aliases = h.at("cache_aliases").get<std::map<std::string, std::vector<std::string>>>();
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
    r.series = series_from_json(h.at("series"), r.sample_times.size(), path);
    // Recordings before unseen frees were kept have neither: nothing is confirmed by ledger then.
    if (h.contains("ledgers")) r.ledgers = series_from_json(h.at("ledgers"), r.sample_times.size(), path);
    if (h.contains("ledgers_end")) r.ledgers_end = h.at("ledgers_end").get<std::map<std::string, uint64_t>>();
    if (h.contains("unseen_frees"))
      for (const auto& [id, n] : h.at("unseen_frees").items())
        c.unseen_frees[static_cast<int32_t>(std::stol(id))] = n.get<uint64_t>();
    // Reserved only as far as the compressed bytes left could hold (deflate expands at most
    // 1032:1): a header announcing millions of records costs nothing until they arrive.
    c.allocs.reserve(std::min<uint64_t>(n, f.compressed_left() * 1032 / kRecordBytes + 1));
    for (uint64_t i = 0; i < n; ++i) {
      AllocRecord rec{};
      f.read(&rec.key, sizeof rec.key);
      f.read(&rec.a, sizeof rec.a);
      if (rec.a.kind >= KLEAK_KIND_MAX) throw usage_error(path + ": a record has an unknown kind");
      c.allocs.push_back(rec);
    }
    const uint32_t want = f.crc();
    char footer[kFooterSize];
    f.read(footer, sizeof footer, true);
    std::string_view ft(footer, sizeof footer);
    if (!ft.starts_with(kFooterPrefix) || ft.back() != '\n')
      throw f.damaged("no checksum footer where the header's record count says it is");
    uint32_t got = 0;
    auto hex = ft.substr(kFooterPrefix.size(), 8);
    auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), got, 16);
    if (ec != std::errc() || p != hex.data() + hex.size()) throw f.damaged("the checksum footer is unreadable");
    if (got != want)
      throw f.damaged(fmt::format("checksum mismatch (footer says crc32 {:08x}, the content has {:08x})", got, want));
    f.expect_end();
  } catch (const json::exception& e) {
    // nlohmann's message quotes what it last read: up to the whole header of invalid bytes.
    throw usage_error(path + " is not a valid kleak recording: " + escape_capped(e.what(), 256));
  } catch (const std::invalid_argument&) {
    throw usage_error(path + " is not a valid kleak recording: bad number");
  } catch (const std::out_of_range&) {
    throw usage_error(path + " is not a valid kleak recording: number out of range");
  }
  return r;
}

}  // namespace kleak

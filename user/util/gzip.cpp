// gzip and gunzip of whole strings (gzip.h).
#include "kleak/gzip.h"

#include <zlib.h>

#include <algorithm>

#include "kleak/error.h"

namespace kleak {

namespace {
constexpr size_t kMaxChunk = size_t{1} << 30;  // avail_in/avail_out are 32-bit: one call per 1 GiB
}

std::string gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("zlib: deflateInit2 failed");
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  int rc = Z_OK;
  size_t in_left = data.size(), out_left = out.size();
  while (rc != Z_STREAM_END) {
    uInt in_chunk = static_cast<uInt>(std::min(in_left, kMaxChunk));
    uInt out_chunk = static_cast<uInt>(std::min(out_left, kMaxChunk));
    z.avail_in = in_chunk;
    z.avail_out = out_chunk;
    rc = deflate(&z, in_chunk == in_left ? Z_FINISH : Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      deflateEnd(&z);
      throw Error("zlib: deflate failed");
    }
    in_left -= in_chunk - z.avail_in;
    out_left -= out_chunk - z.avail_out;
  }
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string gunzip(std::string_view gz) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) throw Error("zlib: inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  size_t in_left = gz.size();
  std::string out;
  char buf[64 << 10];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (z.avail_in == 0) {
      z.avail_in = static_cast<uInt>(std::min(in_left, kMaxChunk));
      in_left -= z.avail_in;
    }
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_OK) continue;
    if (rc == Z_STREAM_END) break;
    std::string why = rc == Z_BUF_ERROR ? "the stream ends early" : (z.msg ? z.msg : "data error");
    inflateEnd(&z);
    throw Error("gunzip: " + why);
  }
  inflateEnd(&z);
  return out;
}

}  // namespace kleak

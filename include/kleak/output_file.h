// The one way kleak writes a file (reports, recordings, snapshots) and stdout.
//
// A file is written to a temporary file created next to the target (O_CREAT|O_EXCL|O_NOFOLLOW,
// mode 0600), fsync'ed, then renamed over the target and the directory fsync'ed: a crash, a
// SIGKILL or a full disk leaves the previous file whole and never a half one (the temporary file
// a killed writer leaves is removed by the next write of that target: its flock died with it).
// The target is refused when it is a symlink or a file owned by another user (root writing into /tmp must not
// write through, or hand over, a file some other user planted), unless `force`. Every failure is
// an Error naming the path and the errno, with exit code kExitUsage (2): the output path is
// input the user gave (error.h).
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kleak {

struct OutputOptions {
  mode_t mode = 0600;  // reports and recordings hold kernel addresses: not for other users
  bool force = false;  // replace a symlink or another user's file (the link itself, never its target)
};

// Checks, before a long run, that `path` can be written: its directory takes a new file and
// the target is not refused. Creates nothing that outlives the call.
void check_output_path(const std::string& path, const OutputOptions& opts = {});

// A file being written. write() appends to the temporary file; commit() makes it the target
// (all or nothing). After commit(), write() appends to the target in place and sync() flushes:
// streams (--interval reports, meminfo --watch) replace the previous file once, when their
// first part is whole, and grow it from then on. Destroyed without commit(), the temporary file
// is removed and the target is untouched.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path, OutputOptions opts = {});
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  void commit();
  void sync();  // after commit(): fsync what was appended
  bool committed() const { return committed_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  OutputOptions opts_;
  int fd_ = -1;
  bool committed_ = false;
};

// write + commit in one call.
void write_file_atomically(const std::string& path, std::string_view bytes, const OutputOptions& opts = {});

// Writes all of `bytes` to stdout (fd 1), or throws an Error naming the errno: a report lost to
// a full disk or a closed pipe is an error, not exit 0.
void write_stdout(std::string_view bytes);

// Where a subcommand's output goes (every --format of every subcommand, format_table.h): stdout,
// or the -o file. The first write() replaces the file whole; later ones (--interval reports,
// meminfo --watch samples) are appended to it and synced.
class OutputSink {
 public:
  OutputSink() = default;  // stdout
  explicit OutputSink(std::string path, OutputOptions opts = {}) : path_(std::move(path)), opts_(opts) {}

  // Before a long run: the -o file can be written (check_output_path); nothing for stdout.
  void check() const;
  void write(std::string_view text);

  bool to_stdout() const { return path_.empty(); }
  const OutputOptions& options() const { return opts_; }

 private:
  std::string path_;
  OutputOptions opts_;
  std::optional<AtomicFile> file_;
};

}  // namespace kleak

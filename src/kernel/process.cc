// Process state kept by the kernel.
#include "kernel/process.h"

#include <algorithm>

#include "util/strings.h"

namespace selium::kernel {

Process::Process(ProcessConfig config, boost::asio::io_context& loop, ProcessHost& host,
                 LogSink sink)
    : config_(std::move(config)),
      loop_(loop),
      host_(host),
      sink_(std::move(sink)),
      timers_(loop),
      handles_(config_.max_handles),
      log_stream_(config_.log_stream != nullptr ? std::move(config_.log_stream)
                                                : std::make_shared<LogStream>()) {}

Process::~Process() { releaseResources(); }

bool Process::firstDenial(std::size_t index) {
  if (index >= denied_.size() || denied_.test(index)) return false;
  denied_.set(index);
  return true;
}

bool Process::firstUnsupported(std::size_t index) {
  if (index >= unsupported_.size() || unsupported_.test(index)) return false;
  unsupported_.set(index);
  return true;
}

void Process::emitLog(const GuestLogRecord& record) const {
  if (sink_) sink_(*this, record);
  log_stream_->write(record);
}

void Process::emitStdLine(StdStream stream, std::string_view line) {
  GuestLogRecord record;
  record.level = stream == StdStream::Stdout ? log::Level::Info : log::Level::Warn;
  record.message = util::toValidUtf8(line);
  record.fields.emplace_back("stream", stream == StdStream::Stdout ? "stdout" : "stderr");
  emitLog(record);
}

void Process::writeStdStream(StdStream stream, std::span<const uint8_t> bytes) {
  if (std_writer_) {
    flushStdStreams();  // whatever a start function left unfinished goes first, in order
    std_writer_(stream, bytes);
    return;
  }
  std::string& pending = std_pending_[static_cast<int>(stream)];
  std::string_view rest(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  while (!rest.empty()) {
    std::size_t newline = rest.find('\n');
    std::size_t take = std::min(newline == std::string_view::npos ? rest.size() : newline,
                                kMaxStdLineBytes - pending.size());
    pending.append(rest.substr(0, take));
    rest.remove_prefix(take);
    if (!rest.empty() && rest.front() == '\n') {
      rest.remove_prefix(1);
      std::string_view line = pending;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      emitStdLine(stream, line);
      pending.clear();
    } else if (pending.size() >= kMaxStdLineBytes) {
      // A long line goes out in pieces, cut where no UTF-8 sequence is split (a piece ending
      // in the middle of a character keeps that character for the next piece).
      std::size_t cut = util::utf8PrefixLength(pending);
      if (cut == 0) cut = pending.size();
      emitStdLine(stream, std::string_view(pending).substr(0, cut));
      pending.erase(0, cut);
    }
  }
}

void Process::flushStdStreams() {
  for (StdStream stream : {StdStream::Stdout, StdStream::Stderr}) {
    std::string& pending = std_pending_[static_cast<int>(stream)];
    if (pending.empty()) continue;
    std::string line = std::move(pending);
    pending.clear();
    emitStdLine(stream, line);
  }
}

}  // namespace selium::kernel

// Process state kept by the kernel.
#include "kernel/process.h"

#include <boost/asio/post.hpp>

namespace selium::kernel {

Process::Process(ProcessConfig config, boost::asio::io_context& loop, ProcessHost& host,
                 LogSink sink)
    : config_(std::move(config)),
      loop_(loop),
      host_(host),
      sink_(std::move(sink)),
      handles_(config_.max_handles) {}

Process::~Process() { releaseResources(); }

bool Process::firstDenial(std::size_t index) {
  if (index >= denied_.size() || denied_.test(index)) return false;
  denied_.set(index);
  return true;
}

void Process::wakeSoon(int32_t waker) {
  // By id, through the host: the process may have ended by the time this runs.
  boost::asio::post(loop_, [&host = host_, id = config_.id, waker] { host.wake(id, waker); });
}

void Process::emitLog(const GuestLogRecord& record) const {
  if (sink_) sink_(*this, record);
}

}  // namespace selium::kernel

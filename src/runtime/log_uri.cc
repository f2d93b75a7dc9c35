// Publishing log streams in Atlas: one Insert request (no reply asked) written to the Atlas's
// request channel with a weak writer, so a busy Atlas never holds up a process start.
#include "runtime/log_uri.h"

#include <selium/abi/singleton_id.h>

#include <utility>

#include "kernel/channel.h"
#include "kernel/drivers/channel/channel_driver.h"
#include "kernel/drivers/process/child_driver.h"
#include "kernel/process_directory.h"
#include "selium/atlas_protocol.hpp"
#include "selium/uri.hpp"
#include "util/log.h"

namespace selium::runtime {
namespace {

kernel::Registry::SingletonId atlasId() {
  kernel::Registry::SingletonId id{};
  selium_singleton_id(atlas::kSingletonName.data(), atlas::kSingletonName.size(), id.data());
  return id;
}

}  // namespace

void LogUriPublisher::publish(kernel::Process& process) {
  const std::optional<std::string>& text = process.logUri();
  if (!text || text->empty()) return;
  UriResult uri = Uri::parse(*text);
  if (!uri) {
    log::warn("log_uri not published: not a sel:// URI",
              {{"pid", process.id()}, {"log_uri", *text}, {"error", uri.error().text()}});
    return;
  }
  kernel::ProcessDirectory* directory = process.host().directory();
  std::shared_ptr<kernel::ChildState> life =
      directory != nullptr ? directory->life(process.id()) : nullptr;
  if (life == nullptr) return;  // a host without a directory (tests)

  // The stream starts now, before the process runs, so a follower can read its first records.
  (void)process.logStream()->channel();
  // The process holds both objects, so their ids live exactly as long as it does.
  std::shared_ptr<kernel::Shareable> follower = kernel::makeLogFollower(process.logStream());
  std::shared_ptr<kernel::Shareable> lifetime = kernel::makeLifetime(process.id(), life);
  atlas::Message insert;
  insert.kind = atlas::MessageKind::Insert;
  insert.uri = *uri;
  insert.id = static_cast<uint64_t>(process.registry().share(follower));
  insert.lifetime = static_cast<uint64_t>(process.registry().share(lifetime));
  insert.replyChannel = 0;  // no reply: a refusal shows in Atlas's own log
  Publication publication{process.id(), uri->toString(), atlas::encode(insert), lifetime};
  process.hold(std::move(follower));
  process.hold(std::move(lifetime));

  kernel::Registry::Found atlas = process.registry().lookupSingleton(atlasId(), std::nullopt);
  if (atlas.object != nullptr) {
    send(atlas.object, publication);
    return;
  }
  log::debug("log_uri waits for Atlas", {{"pid", process.id()}, {"log_uri", publication.uri}});
  std::lock_guard lock(mutex_);
  if (pending_.size() >= max_pending_) {
    // Processes that ended need nothing published: forget them before anyone still running.
    std::erase_if(pending_, [](const Publication& p) { return p.lifetime.expired(); });
  }
  if (pending_.size() >= max_pending_) {
    log::warn("log_uri not published: too many wait for Atlas to run",
              {{"pid", pending_.front().pid},
               {"log_uri", pending_.front().uri},
               {"limit", max_pending_}});
    pending_.pop_front();
  }
  pending_.push_back(std::move(publication));
}

void LogUriPublisher::registered(const kernel::Registry::SingletonId& id,
                                 const std::shared_ptr<kernel::Shareable>& object) {
  if (id != atlasId()) return;
  std::deque<Publication> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(pending_);
  }
  for (const Publication& publication : waiting) {
    if (!publication.lifetime.expired()) send(object, publication);
  }
}

void LogUriPublisher::send(const std::shared_ptr<kernel::Shareable>& atlas,
                           const Publication& publication) {
  std::shared_ptr<kernel::Channel> requests = kernel::channelOf(atlas);
  if (requests == nullptr) {
    log::warn("log_uri not published: the Atlas singleton is not a channel or writer",
              {{"pid", publication.pid}, {"log_uri", publication.uri}});
    return;
  }
  auto writer = kernel::ChannelWriter::open(requests, kernel::Strength::Weak);
  kernel::Waiter waiter;  // unregistered when it goes: this write never waits
  kernel::WriteResult written = writer->write(publication.frame, waiter, kernel::Waker{});
  if (written.status != kernel::ChannelStatus::Ok) {
    log::warn("log_uri not published: Atlas is not taking requests",
              {{"pid", publication.pid},
               {"log_uri", publication.uri},
               {"reason", written.status == kernel::ChannelStatus::WouldBlock
                              ? std::string("its request channel is full")
                              : std::string("its request channel is closed")}});
    return;
  }
  log::debug("log_uri published in Atlas",
             {{"pid", publication.pid}, {"log_uri", publication.uri}});
}

}  // namespace selium::runtime

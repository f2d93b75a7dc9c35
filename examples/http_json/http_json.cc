// An HTTP JSON service: a small in-memory to-do list served over plain HTTP.
//
//   serve(utf8 address, u16 port)   listens on address:port (port 0: the system picks; an empty
//                                   address: 0.0.0.0), logs Info "listening" {address, port}
//                                   and answers until stopped:
//     GET    /items        200 [{"id":1,"title":"milk","done":false}, ...] in id order
//     POST   /items        {"title": string, "done": bool (optional)} -> 201 the new item,
//                          with `location: /items/{id}`
//     GET    /items/{id}   200 the item
//     DELETE /items/{id}   204
//   Errors are {"error": "..."}: 400 bad JSON or a body that is not an item, 404 unknown path or
//   id, 405 another method (with `allow`), 413 a body over 16 KiB, 415 a body that is not
//   application/json, 507 when the list already holds 1,000 items. HEAD is answered as GET.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <selium/selium.hpp>

#include "json.h"

namespace {

using http_json::JsonParser;
using http_json::quoted;
using http_json::Scalar;
using http_json::typeName;

constexpr selium::log::Logger kLog{"examples.http_json"};

// Bounds on what clients can make this process hold: at most kMaxItems * kMaxTitleBytes of
// titles, and one body of kMaxBodyBytes per request being read.
constexpr std::size_t kMaxItems = 1000;
constexpr std::size_t kMaxTitleBytes = 256;
constexpr std::size_t kMaxBodyBytes = 16 * 1024;

// ---- the to-do list ----

struct Item {
  std::string title;
  bool done = false;
};

struct Store {
  std::map<uint64_t, Item> items;  // by id: listed in id order
  uint64_t next_id = 1;
};

Store g_store;  // one process, one thread: requests are tasks taking turns

std::string itemJson(uint64_t id, const Item& item) {
  return "{\"id\":" + std::to_string(id) + ",\"title\":" + quoted(item.title) +
         ",\"done\":" + (item.done ? "true" : "false") + "}";
}

selium::Response jsonResponse(int status, std::string_view body) {
  selium::Response response(status);
  response.header("content-type", "application/json");
  response.body(std::string(body) + "\n");
  return response;
}

selium::Response errorResponse(int status, std::string_view message) {
  return jsonResponse(status, "{\"error\":" + quoted(message) + "}");
}

// Answers; a client that went away (Closed) is not an error of this service.
void answer(selium::Request& request, const selium::Response& response) {
  auto sent = request.respond(response);
  if (!sent && sent.error() != selium::ErrorCode::Closed) {
    kLog.warn("cannot answer", {{"status", response.status()},
                                {"error", sent.error().name()},
                                {"detail", selium::lastError()}});
  }
}

// The id in "/items/{id}": canonical decimal (no sign, no leading zero) that fits 64 bits.
std::optional<uint64_t> parseId(std::string_view text) {
  if (text.empty() || text.size() > 19 || (text[0] == '0' && text.size() > 1)) return std::nullopt;
  uint64_t id = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + static_cast<uint64_t>(c - '0');
  }
  return id;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

// "application/json", with or without parameters (charset=utf-8).
bool isJson(std::optional<std::string_view> content_type) {
  if (!content_type) return false;
  std::string_view type = content_type->substr(0, content_type->find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  return equalsIgnoreCase(type, "application/json");
}

// The item a POST body describes, or the reason it does not describe one.
struct ParsedItem {
  std::optional<Item> item;
  std::string error;
};

ParsedItem parseItem(std::string_view body) {
  JsonParser parser(body);
  auto members = parser.object();
  if (!members) return {std::nullopt, parser.error()};
  Item item;
  bool has_title = false;
  for (auto& [key, value] : *members) {
    if (key == "title") {
      if (value.type != Scalar::Type::String) {
        return {std::nullopt,
                std::string("\"title\" must be a string, not ") + typeName(value.type)};
      }
      item.title = std::move(value.string);
      has_title = true;
    } else if (key == "done") {
      if (value.type != Scalar::Type::Bool) {
        return {std::nullopt,
                std::string("\"done\" must be a boolean, not ") + typeName(value.type)};
      }
      item.done = value.boolean;
    } else {
      return {std::nullopt,
              "unknown field " + quoted(key) + " (an item has \"title\" and \"done\")"};
    }
  }
  if (!has_title) return {std::nullopt, "missing field \"title\""};
  if (item.title.empty()) return {std::nullopt, "\"title\" must not be empty"};
  if (item.title.size() > kMaxTitleBytes) {
    return {std::nullopt, "\"title\" is longer than " + std::to_string(kMaxTitleBytes) + " bytes"};
  }
  return {std::move(item), {}};
}

selium::Task<void> createItem(selium::Request request) {
  if (!isJson(request.header("content-type"))) {
    answer(request, errorResponse(415, "the body must be application/json"));
    co_return;
  }
  const std::string too_large =
      "the body is larger than " + std::to_string(kMaxBodyBytes) + " bytes";
  if (request.contentLength().value_or(0) > kMaxBodyBytes) {
    answer(request, errorResponse(413, too_large));
    co_return;
  }
  auto body = co_await request.readBody(kMaxBodyBytes);
  if (!body) {
    if (body.error() == selium::ErrorCode::TooLarge) answer(request, errorResponse(413, too_large));
    co_return;  // otherwise the body was cut short: the client is gone
  }
  ParsedItem parsed =
      parseItem(std::string_view(reinterpret_cast<const char*>(body->data()), body->size()));
  if (!parsed.item) {
    answer(request, errorResponse(400, parsed.error));
    co_return;
  }
  // Checked after the body is read: other requests may have added items meanwhile.
  if (g_store.items.size() >= kMaxItems) {
    answer(request, errorResponse(507, "the list is full (" + std::to_string(kMaxItems) +
                                           " items); delete some first"));
    co_return;
  }
  const uint64_t id = g_store.next_id++;
  const Item& item = g_store.items.emplace(id, std::move(*parsed.item)).first->second;
  selium::Response response = jsonResponse(201, itemJson(id, item));
  response.header("location", "/items/" + std::to_string(id));
  answer(request, response);
}

// The list can be larger than a whole-body respond() carries (SELIUM_NET_REQUEST_MAX_BYTES,
// 1 MiB: 1,000 titles of 256 control characters take 6 bytes each once escaped), so it is
// streamed, with its length declared.
selium::Task<void> listItems(selium::Request request) {
  std::string list = "[";
  for (const auto& [id, item] : g_store.items) {
    if (list.size() > 1) list += ",";
    list += itemJson(id, item);
  }
  list += "]\n";
  auto writer = request.respondStreaming(200, {{"content-type", "application/json"}}, list.size());
  if (!writer) {
    if (writer.error() != selium::ErrorCode::Closed) {
      kLog.warn(
          "cannot answer",
          {{"status", 200}, {"error", writer.error().name()}, {"detail", selium::lastError()}});
    }
    co_return;
  }
  // A failed write is a client that went away: the unfinished body is cut short for it.
  if (co_await writer->write(list)) (void)writer->finish();
}

selium::Task<void> handle(selium::Request request) {
  const std::string_view method = request.method();
  const std::string_view path = request.path();
  const bool read = method == "GET" || method == "HEAD";

  if (path == "/items") {
    if (read) {
      co_await listItems(std::move(request));
    } else if (method == "POST") {
      co_await createItem(std::move(request));
    } else {
      answer(request,
             errorResponse(405, "use GET or POST on /items").header("allow", "GET, HEAD, POST"));
    }
    co_return;
  }

  constexpr std::string_view kPrefix = "/items/";
  std::optional<uint64_t> id;
  if (path.starts_with(kPrefix)) id = parseId(path.substr(kPrefix.size()));
  if (!id) {
    answer(request, errorResponse(404, "not found: the resources are /items and /items/{id}"));
    co_return;
  }
  auto found = g_store.items.find(*id);
  if (read || method == "DELETE") {
    if (found == g_store.items.end()) {
      answer(request, errorResponse(404, "no item with id " + std::to_string(*id)));
    } else if (read) {
      answer(request, jsonResponse(200, itemJson(found->first, found->second)));
    } else {
      g_store.items.erase(found);
      answer(request, selium::Response(204));
    }
  } else {
    answer(request, errorResponse(405, "use GET or DELETE on /items/{id}")
                        .header("allow", "GET, HEAD, DELETE"));
  }
}

}  // namespace

SELIUM_ENTRYPOINT(serve, (utf8, address), (u16, port)) {
  selium::ListenOptions options;
  options.address = address;
  options.port = port;
  auto server = selium::HttpServer::listen(options);
  if (!server) {
    kLog.error("listen failed", {{"address", address},
                                 {"port", port},
                                 {"error", server.error().name()},
                                 {"detail", selium::lastError()}});
    co_return 1;
  }
  kLog.info("listening",
            {{"address", address.empty() ? "0.0.0.0" : address}, {"port", server->port()}});
  for (;;) {
    auto request = co_await server->accept();
    if (!request) {
      kLog.error("accept failed",
                 {{"error", request.error().name()}, {"detail", selium::lastError()}});
      co_return 2;
    }
    selium::spawn(handle(std::move(*request)));
  }
}

// The Selium guest SDK for C++20: tasks and executor, entrypoints, channels, sharing and
// singletons, child processes, time, logging, process.
// See sdk/README.md.
#pragma once

#include "selium/channel.hpp"
#include "selium/child.hpp"
#include "selium/entrypoint.hpp"
#include "selium/http.hpp"
#include "selium/log.hpp"
#include "selium/process.hpp"
#include "selium/quic.hpp"
#include "selium/result.hpp"
#include "selium/selium.h"
#include "selium/session.hpp"
#include "selium/task.hpp"
#include "selium/time.hpp"

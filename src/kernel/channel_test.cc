#include "kernel/channel.h"

#include <gtest/gtest.h>

namespace selium::kernel {
namespace {
TEST(Channel, Placeholder) {}
}  // namespace
}  // namespace selium::kernel

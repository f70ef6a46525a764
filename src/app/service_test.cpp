// The service manager's protocol on a real NOTIFY_SOCKET (a datagram socket this test binds), sent
// by libsystemd's sd_notify: READY=1 with STATUS=, STOPPING=1, and RELOADING=1 (with
// MONOTONIC_USEC) then READY=1 around a reload.
#include "app/service.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <regex>
#include <string>

namespace herald::app {
namespace {

class service_test : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "herald-notify-" + std::to_string(::getpid());
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(path_.size(), sizeof addr.sun_path);
    path_.copy(addr.sun_path, path_.size());
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{10, 0};  // a failure guard only: every message is sent before it is read
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  std::string next() {
    char buf[1024];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("(nothing)");
  }
  std::string path_;
  int fd_ = -1;
};

TEST_F(service_test, ready_stopping_and_a_reload) {
  service::ready("serving");
  EXPECT_EQ(next(), "READY=1\nSTATUS=serving");
  {
    service::reloading reload;
    EXPECT_TRUE(std::regex_match(next(), std::regex("RELOADING=1\nMONOTONIC_USEC=[0-9]+")));
  }
  EXPECT_EQ(next(), "READY=1");
  service::stopping();
  EXPECT_EQ(next(), "STOPPING=1\nSTATUS=stopping: closing streams");
}

}  // namespace
}  // namespace herald::app

#include "app/run.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

namespace herald::app {
namespace {

// The race it closes: a SIGTERM sent right after the readiness line, before the main thread waits,
// used to hit the default action (the process died without a graceful shutdown).
TEST(stop_signal, keeps_a_signal_that_arrives_before_wait) {
  stop_signal s;
  ASSERT_EQ(std::raise(SIGTERM), 0);  // without the handler this kills the test binary
  EXPECT_EQ(s.wait(5), SIGTERM);
}

TEST(stop_signal, returns_the_signal_that_arrives_during_wait) {
  stop_signal s;
  std::thread sender([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(::getpid(), SIGINT);
  });
  EXPECT_EQ(s.wait(5), SIGINT);
  sender.join();
}

TEST(stop_signal, a_second_signal_after_wait_takes_the_default_action) {
  stop_signal s;
  struct sigaction during {};
  ASSERT_EQ(::sigaction(SIGTERM, nullptr, &during), 0);
  EXPECT_NE(during.sa_handler, SIG_DFL);  // caught while Herald runs
  ASSERT_EQ(std::raise(SIGTERM), 0);
  EXPECT_EQ(s.wait(5), SIGTERM);
  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGTERM, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_DFL);  // during the shutdown a second one forces the exit
}

TEST(stop_signal, times_out_without_a_signal) {
  stop_signal s;
  EXPECT_EQ(s.wait(1), 0);
}

}  // namespace
}  // namespace herald::app

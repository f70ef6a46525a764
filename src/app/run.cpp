#include "app/run.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace herald::app {

int wait_for_stop_signal(unsigned max_seconds) {
  boost::asio::io_context ioc;
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  boost::asio::steady_timer timer(ioc);
  int got = 0;
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (!ec) got = sig;
    timer.cancel();
  });
  if (max_seconds > 0) {
    timer.expires_after(std::chrono::seconds(max_seconds));
    timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) signals.cancel();
    });
  }
  ioc.run();
  return got;
}

}  // namespace herald::app

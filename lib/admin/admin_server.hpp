// The admin HTTP server (SPEC §9, docs/admin-api.md): /metrics, /healthz, /readyz and the control calls
// msgflashctl makes, on a loopback TCP port or a unix socket, served by coroutines on the daemon's
// io_context. Control calls need the token (Authorization: Bearer) unless they come over the unix socket,
// whose file mode and group decide who may connect. What each call does is the daemon's (admin_handlers).
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "admin/control_route.hpp"
#include "config/config.hpp"

namespace msgflash::admin {

struct admin_reply {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body{};
};

// A JSON error answer of docs/admin-api.md: {"error":{"code":…,"message":…}}.
admin_reply error_reply(unsigned status, std::string_view code, std::string_view message);

struct admin_handlers {
    std::function<bool()> ready;                                   // /readyz
    std::function<boost::asio::awaitable<std::string>()> metrics;  // /metrics, the text format
    // A control call, already authorised; runs on the server's executor.
    std::function<boost::asio::awaitable<admin_reply>(route)> control;
};

class admin_server {
  public:
    // Binds and listens (a unix socket's stale file is replaced; its mode becomes 0660). Null with `ec` set
    // when it cannot.
    static std::unique_ptr<admin_server> listen(boost::asio::any_io_executor ex, const listen_address& at,
                                                std::string token, admin_handlers handlers,
                                                std::error_code& ec);
    ~admin_server();

    // The address it listens on, as admin.address holds it: 127.0.0.1:40123, [::1]:9464, unix:/path.
    std::string address() const;
    // Accepts until stop(); spawn it on the executor.
    boost::asio::awaitable<void> run();
    // Closes the listener and every open connection.
    void stop();

  private:
    admin_server(boost::asio::any_io_executor ex, std::string token, admin_handlers handlers);
    template <class Protocol>
    boost::asio::awaitable<void> session(typename Protocol::socket socket, bool trusted);
    boost::asio::awaitable<admin_reply> answer(std::string_view method, std::string_view target,
                                               std::string_view authorization, bool trusted);

    boost::asio::any_io_executor executor_;
    std::string token_;
    admin_handlers handlers_;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> tcp_;
    std::unique_ptr<boost::asio::local::stream_protocol::acceptor> unix_;
    std::string unix_path_;
    std::list<std::function<void()>> closers_;  // one per open connection
    bool stopped_ = false;
};

}  // namespace msgflash::admin

#include <chrono>
#include <iostream>
#include "pymemcache.hpp"

int main(int argc, char **argv) {
    using namespace std::chrono_literals;
    try {
        pymemcache::Client c(pymemcache::Options()
                                 .add_server(argc > 1 ? argv[1] : "127.0.0.1:11211")
                                 .timeout(500ms));
        c.set("greeting", "hello from C++", 0 /* expire */, pymemcache::Reply::Wait);
        std::optional<pymemcache::Value> v = c.get("greeting");    // std::nullopt: a miss
        if (v) std::cout << "greeting = " << v->data << " (flags " << v->flags << ")\n";
        bool added = c.add("greeting", "again", 0, pymemcache::Reply::Wait);   // false: exists
        return v && !added ? 0 : 1;
    } catch (const pymemcache::Error &e) {   // CallerError, NetworkError, ServerError, ...
        std::cerr << e.what() << '\n';       // e.status(): PMC_IO_ERROR, PMC_TIMEOUT, ...
        return 1;
    }
}

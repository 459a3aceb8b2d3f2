// The one translation unit that compiles Asio and Beast (separate compilation:
// BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION are set
// project-wide in meson.build).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>

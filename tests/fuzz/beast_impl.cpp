// Asio and Beast compiled with the fuzzer's instrumentation, so that libFuzzer
// sees coverage inside Beast's HTTP parser and ASan checks it. The objects of
// this file resolve every symbol src/core/asio_impl.cpp would, so the
// uninstrumented copy in the core library is not linked in.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>

#pragma once
// Configuration files and option parsing. Only config* files touch
// Program_options (STYLE rule 7); plugins describe their keys with an
// options_description and get a variables_map back, or a config_error whose
// message names the file, line, section, key and bad value.
#include <boost/program_options/options_description.hpp>
#include <boost/program_options/positional_options.hpp>
#include <boost/program_options/variables_map.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/duration.hpp"
#include "core/endpoint.hpp"

namespace sb::core {

namespace po = boost::program_options;

struct config_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ini_entry {
    std::string key;
    std::string value;
    int line = 0;
};

struct ini_section {
    std::string name;  // "mux.demo", "sip.behavior"
    std::string file;
    int line = 0;
    std::vector<ini_entry> entries;

    std::string where(int at) const { return file + ":" + std::to_string(at); }
};

// Sections in file order. Keys before any section are an error unless
// allowed, in which case they form a section named "" (a flat file, as
// single-service tools take). Comments start with '#' or ';'. Values may be
// quoted; an empty value is allowed.
std::vector<ini_section> read_ini(const std::string& path, bool keys_outside_sections = false);
std::vector<ini_section> parse_ini(const std::string& text, const std::string& file_name,
                                   bool keys_outside_sections = false);

// Stores a section's keys into vm using desc's long option names. Unknown
// keys and bad values throw config_error naming them. Does not notify().
void store_section(const ini_section& section, const po::options_description& desc, po::variables_map& vm);

// Parses a command line into vm; errors become config_error naming the option.
void store_command_line(int argc, const char* const* argv, const po::options_description& desc,
                        po::variables_map& vm, const po::positional_options_description* positional = nullptr);

// Typed getters that turn text options into values, naming the option on error.
duration get_duration(const po::variables_map& vm, const std::string& option);
endpoint get_endpoint(const po::variables_map& vm, const std::string& option, std::string_view default_host = {});
// An empty value: nullopt (the listener is off).
std::optional<endpoint> get_optional_endpoint(const po::variables_map& vm, const std::string& option,
                                              std::string_view default_host = {});
// Paths in an INI file are relative to the file, like an include would be.
std::string path_beside(const std::string& ini_file, const std::string& path);
bool parse_bool(const std::string& option, const std::string& text);
// An integer option checked against [min, max]. `where` names it in the
// error ("[sip] port"); left empty, the error says "option '--name'".
long long get_in_range(const po::variables_map& vm, const std::string& option, long long min, long long max,
                       const std::string& where = {});

// Raises the open-file limit to the hard limit: a multiplexer holding
// thousands of clients must not fail at 1024.
void raise_fd_limit();

}  // namespace sb::core

// The plain main() of a fuzz target outside the `fuzz` preset: run every
// file named (a directory: every file in it, sorted) through
// LLVMFuzzerTestOneInput once. A broken promise aborts, so ctest fails with
// the target's message and the input's name on stderr just before it.
// Linked instead of libFuzzer's main; gcc builds it as well as clang.
#include "fuzz_input.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    if (argc < 2) {
        std::cerr << "usage: " << argv[0] << " FILE|DIR...\n"
                  << "Runs each input once through the target's assertions (the corpus replay).\n";
        return 2;
    }
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        fs::path p = argv[i];
        if (fs::is_directory(p)) {
            for (const auto& e : fs::recursive_directory_iterator(p))
                if (e.is_regular_file()) inputs.push_back(e.path());
        } else if (fs::is_regular_file(p)) {
            inputs.push_back(p);
        } else {
            std::cerr << p.string() << ": no such file or directory\n";
            return 2;
        }
    }
    std::sort(inputs.begin(), inputs.end());
    if (inputs.empty()) {
        std::cerr << "no input files: an empty corpus proves nothing\n";
        return 2;
    }
    for (const auto& p : inputs) {
        std::ifstream in(p, std::ios::binary);
        std::string bytes{std::istreambuf_iterator<char>(in), {}};
        std::cerr << "input " << p.string() << " (" << bytes.size() << " bytes)\n";
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    std::cout << inputs.size() << " inputs replayed, every assertion held\n";
    return 0;
}

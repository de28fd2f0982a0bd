// Who may log in: --user NAME:PASSWORD entries and a --users FILE of
// "name:crypt-hash" lines, checked with libcrypt's crypt_rn.
//
// Rules (RFC 2577 and common sense):
//   - an unknown user and a wrong password look the same from outside: the
//     same reply (the session's business) and the same work here — one crypt
//     call (when any hashed user exists) and one constant-time comparison, for
//     every check whatever the name;
//   - passwords, plain ones too, are compared in constant time, so the time
//     taken does not tell how many leading bytes were right.
// One leak is accepted and documented: with both kinds configured, a plain
// user's check and a hashed user's differ only by which comparison decides.
// crypt is CPU work, not I/O: a yescrypt check takes milliseconds of the
// loop's time, which is why plain --user entries are what the benchmarks use.
//
// Anonymous access is not a user here; the session handles it (Site::anonymous).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace iom::ftp {

class Users {
public:
    // "NAME:PASSWORD". Throws std::invalid_argument (naming the entry's user) when malformed.
    void add_plain(std::string_view entry);
    // "name:hash" lines; blank lines and lines starting with '#' are skipped.
    // Throws std::runtime_error "FILE:LINE: why" on a bad line or an unreadable file.
    void load_file(const std::string& path);

    bool check(std::string_view name, std::string_view password) const;
    bool empty() const { return users_.empty(); }

    // A name usable as a directory under --root: letters, digits, '.', '_',
    // '-', not starting with '.', at most 64 bytes, and not "pub" (the
    // anonymous root).
    static bool valid_name(std::string_view name);

private:
    struct Secret {
        std::string value;
        bool hashed = false;
    };
    void add(std::string name, Secret secret, const std::string& where);
    std::map<std::string, Secret, std::less<>> users_;
    std::string dummy_hash_;  // the first hashed user's hash: an unknown name costs the same crypt call
};

// Equal contents, in a time that depends only on the length of `given`.
bool constant_time_equal(std::string_view expected, std::string_view given);

}  // namespace iom::ftp

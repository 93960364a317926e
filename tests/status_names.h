/*
 * tests/status_names.h — the check every part's status codes get: the first
 * is success and 0, every other is negative, and `name` gives each words of
 * its own, not "unknown" (as every part's *_status_name promises).
 */
#ifndef BERTH_TESTS_STATUS_NAMES_H
#define BERTH_TESTS_STATUS_NAMES_H

#include <criterion/criterion.h>

#define EXPECT_STATUS_NAMES(name, ...)                                                                                             \
    do {                                                                                                                           \
        const int codes_[] = {__VA_ARGS__};                                                                                        \
        size_t n_ = sizeof(codes_) / sizeof(codes_[0]);                                                                            \
        for (size_t i_ = 0; i_ < n_; i_++) {                                                                                       \
            cr_expect(i_ == 0 ? codes_[i_] == 0 : codes_[i_] < 0, "%s: code %d", #name, codes_[i_]);                               \
            cr_expect_str_neq(name(codes_[i_]), "unknown", "%s: code %d", #name, codes_[i_]);                                      \
            for (size_t j_ = 0; j_ < i_; j_++)                                                                                     \
                cr_expect_str_neq(name(codes_[i_]), name(codes_[j_]), "%s: codes %d and %d", #name, codes_[i_], codes_[j_]);       \
        }                                                                                                                          \
    } while (0)

#endif

/* tests/unit/storage/util.h: helpers shared by the storage tests. */
#ifndef STOR_TEST_UTIL_H
#define STOR_TEST_UTIL_H
#endif

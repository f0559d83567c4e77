/* Shared helpers for the storage tests (see util.h). */
#include "util.h"

/* The sw_api_t table handed to modules: implemented in api.c. */
#ifndef SW_MODULE_API_H
#define SW_MODULE_API_H
#include "module/loader.h"
#endif

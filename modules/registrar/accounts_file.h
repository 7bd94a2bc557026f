/* Accounts in a file (`accounts_file` in [registrar]) for operators with
 * more devices than cfg sections are practical for: one account per line,
 *
 *   name,password[,caller_number[,allowed_ips]]
 *
 * allowed_ips being addresses or CIDR blocks separated by spaces. Fields are
 * trimmed of spaces; a password cannot hold a comma. Blank lines and lines
 * starting with '#' are skipped. A name follows the rules of [account NAME]
 * (letters, digits, _ - . + ; at most 128) and appears once, here or in cfg. */
#ifndef REGISTRAR_ACCOUNTS_FILE_H
#define REGISTRAR_ACCOUNTS_FILE_H

#include <stddef.h>

#include "accounts.h"

/* Adds the file's accounts to `a`. The number added, or -1 with err set to
 * "path:line: reason" (then some accounts of the file may have been added:
 * the caller drops the table). */
long reg_accounts_load_file(reg_accounts_t *a, const char *path, const char *realm, char *err, size_t errlen);

#endif

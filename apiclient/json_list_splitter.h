// Finds the "items" of a top-level JSON List by its brackets and quotes only, so a list of tens of
// MB is decoded one item at a time (a DOM of the whole list costs ~12x its size in memory).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kproxy::apiclient {

struct JsonListLayout {
  // The document with its items array emptied ("items":[]): the List's own fields.
  std::string shell;
  // Each element of the items array, as it appears in the text (not validated: the caller parses
  // each one, and a malformed one makes the whole document malformed).
  std::vector<absl::string_view> items;
};

// The layout of `json` when it is an object with exactly one "items" key holding an array;
// nullopt for anything else, including text that is not well-formed at this level (the caller
// then parses the whole document and reports the JSON error).
std::optional<JsonListLayout> SplitJsonList(absl::string_view json);

}  // namespace kproxy::apiclient

// creditctl's command line, made from the API description (see ctl_commands.hpp).
#include "cli/ctl_commands.hpp"

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <vector>

#include "cli/ctl_exit.hpp"

namespace creditd::ctl {

namespace {

using api::type;

constexpr std::string_view exit_codes_text =
    "Exit codes: 0 success; 1 the server refused the request (4xx); 2 usage error (bad "
    "command, option or value; no key); 3 cannot connect, TLS failure or no reply within "
    "--timeout; 4 server error (5xx) or a reply that is not what the API describes.";

std::string join(std::span<const std::string_view> values, std::string_view sep) {
  std::string out;
  for (std::string_view v : values) {
    if (!out.empty()) out += sep;
    out += v;
  }
  return out;
}

std::string member_names(std::span<const api::field> fields) {
  std::string out;
  for (const api::field& m : fields) {
    if (!out.empty()) out += ", ";
    out += m.name;
  }
  return out;
}

// The placeholder shown after an option or for a positional argument.
std::string type_label(const api::field& f) {
  switch (f.t) {
    case type::string:
      return "TEXT";
    case type::account_id:
      return "ACCOUNT";
    case type::operation:
    case type::operation_pattern:
      return "OPERATION";
    case type::amount:
    case type::positive_amount:
    case type::signed_amount:
      return "AMOUNT";
    case type::integer:
      return "INT";
    case type::boolean:
      return "";
    case type::time:
      return "TIME";
    case type::object:
    case type::dimensions:
      return "JSON";
    case type::array:
      return f.items != nullptr ? type_label(*f.items) : "VALUE";
    case type::id:
      return "ID";
    case type::enumeration:
      return "{" + join(f.values, ",") + "}";
    case type::charge_or_id:
      return "ID";
  }
  return "VALUE";
}

// The type and limits of `f`, in words.
std::string type_help(const api::field& f) {
  switch (f.t) {
    case type::string:
      return f.max > 0 ? "text, at most " + std::to_string(f.max) + " bytes" : "text";
    case type::account_id:
      return "an account id: A-Z a-z 0-9 . _ : -, 1 to 128 characters";
    case type::operation:
      return "an operation name: A-Z a-z 0-9 . _ : / -, 1 to 128 characters";
    case type::operation_pattern:
      return "an operation name, a prefix ending in .* (image.*), or *";
    case type::amount:
      return "an amount: digits, at most 6 decimals";
    case type::positive_amount:
      return "an amount above zero: digits, at most 6 decimals";
    case type::signed_amount:
      return "a signed amount: digits with an optional '-', at most 6 decimals";
    case type::integer:
      if (f.min != 0 || f.max != 0)
        return "an integer, " + std::to_string(f.min) + " to " + std::to_string(f.max);
      return "an integer";
    case type::boolean:
      return "a flag; " + option_name(f.name) + "=false sends false";
    case type::time:
      return "an RFC 3339 UTC time, e.g. 2026-11-25T10:00:00Z";
    case type::object: {
      std::string s = "a JSON object";
      if (!f.fields.empty()) s += " with members " + member_names(f.fields);
      if (f.nullable) s += ", or null";
      return s;
    }
    case type::dimensions:
      return "a JSON object of string, number or boolean values, e.g. '{\"model\":\"sdxl\"}'";
    case type::array: {
      std::string s = "repeat the option, one ";
      s += f.items != nullptr ? type_label(*f.items) : "VALUE";
      s += " each, or give one JSON array";
      if (f.items != nullptr && f.items->t == type::object && !f.items->fields.empty())
        s += " of objects with members " + member_names(f.items->fields);
      if (f.min > 0 && f.max > 0) {
        s += "; " + std::to_string(f.min) + " to " + std::to_string(f.max) + " items";
      } else if (f.max > 0) {
        s += "; at most " + std::to_string(f.max) + " items";
      }
      return s;
    }
    case type::id:
      return "an id (" + std::string(f.prefix) + "_N)";
    case type::enumeration:
      return "one of " + join(f.values, ", ");
    case type::charge_or_id:
      return "an id";
  }
  return "";
}

std::string field_help(const api::field& f, bool required) {
  std::string s(f.doc);
  if (!s.empty()) s += ". ";
  s += "Type: " + type_help(f) + ".";
  if (required) s += " Required.";
  return s;
}

enum class where { path, query, body };

// One field of a command and what the command line gave for it.
struct bound_field {
  const api::field* f = nullptr;
  where at = where::body;
  std::string one;                // a path parameter or a single-valued option
  std::vector<std::string> many;  // an array option's occurrences
  bool flag = false;              // a boolean option
  CLI::Option* opt = nullptr;

  bool given() const { return opt != nullptr && opt->count() > 0; }
  given_field value() const {
    given_field g{f, {}};
    if (!given()) return g;
    if (f->t == type::boolean) {
      g.texts.push_back(flag ? "true" : "false");
    } else if (f->t == type::array) {
      g.texts = many;
    } else {
      g.texts.push_back(one);
    }
    return g;
  }
};

struct bound_command {
  const api::endpoint* ep = nullptr;
  CLI::App* app = nullptr;
  std::vector<std::unique_ptr<bound_field>> fields;
  std::string body_arg;
  CLI::Option* body_opt = nullptr;
};

class command_line {
 public:
  explicit command_line(const environment& env) {
    if (!env.url.empty()) defaults_.url = env.url;
    defaults_.key = !env.key.empty() ? env.key : env.admin_key;
    defaults_.cacert = env.cacert;
    app_.name("creditctl");
    app_.require_subcommand(1);
    for (const api::endpoint& ep : api::endpoints()) {
      if (!ep.command.empty()) add_command(ep);
    }
    for (auto& [name, group] : groups_) {
      group.app->description(group.summary);
      group.app->footer("Run creditctl " + name + " COMMAND --help for a command's options.\n" +
                        std::string(exit_codes_text));
    }
    add_globals(app_, {});
    app_.footer(
        "Each endpoint of the API is a command: path parameters are positional arguments in "
        "path order, body fields and query parameters are options (--field-name), and "
        "--body JSON|@FILE sends a whole body instead. The options above may also come after "
        "the command. Output is readable text, or the server's JSON with --json (an error's "
        "JSON then goes to stdout and its message to stderr).\n" +
        std::string(exit_codes_text));
  }

  std::expected<invocation, int> parse(int argc, const char* const* argv, std::ostream& out,
                                       std::ostream& err) {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int code = app_.exit(e, out, err);
      return std::unexpected(code == 0 ? exit_ok : exit_usage);
    }
    for (const auto& cmd : commands_) {
      if (cmd->app->parsed()) return finish(*cmd, err);
    }
    err << "creditctl: no command given; see creditctl --help\n";
    return std::unexpected(exit_usage);
  }

 private:
  struct group {
    CLI::App* app = nullptr;
    std::string summary;
  };

  // The global options given on one command level, and how to apply them.
  struct global_level {
    global_options given;
    std::vector<std::pair<CLI::Option*, void (*)(global_options&, const global_options&)>> set;
  };

  // The global options, on `app`; a name that a field of the command uses
  // is left to the field (the global option then goes before the command).
  // Each level has its own storage: after parsing, the levels apply from the
  // root down, so the last one given wins.
  void add_globals(CLI::App& app, const std::set<std::string>& taken) {
    auto level = std::make_unique<global_level>();
    global_options& v = level->given;
    auto add = [&](CLI::Option* opt, void (*apply)(global_options&, const global_options&)) {
      opt->group("Global options (before or after the command)")
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
      level->set.emplace_back(opt, apply);
    };
    if (taken.count("--url") == 0) {
      add(app.add_option("--url", v.url,
                         "The server: http[s]://HOST[:PORT][/BASE] (env CREDITD_URL; default "
                         "http://127.0.0.1:8080)")
              ->type_name("URL"),
          [](global_options& g, const global_options& l) { g.url = l.url; });
    }
    if (taken.count("--key") == 0) {
      add(app.add_option("--key", v.key, "API key (env CREDITD_KEY, else CREDITD_ADMIN_KEY)")
              ->type_name("KEY"),
          [](global_options& g, const global_options& l) { g.key = l.key; });
    }
    if (taken.count("--cacert") == 0) {
      add(app.add_option("--cacert", v.cacert,
                         "PEM CA certificates to verify an https:// server with (env "
                         "CREDITD_CACERT; default: the system's)")
              ->type_name("FILE"),
          [](global_options& g, const global_options& l) { g.cacert = l.cacert; });
    }
    if (taken.count("--json") == 0) {
      add(app.add_flag("--json", v.json,
                       "Print the server's JSON (on an error: its error JSON on stdout, the "
                       "message on stderr)"),
          [](global_options& g, const global_options& l) { g.json = l.json; });
    }
    if (taken.count("--idempotency-key") == 0) {
      add(app.add_option("--idempotency-key", v.idempotency_key,
                         "Idempotency-Key for a write: a retry with the same key changes nothing")
              ->type_name("KEY"),
          [](global_options& g, const global_options& l) {
            g.idempotency_key = l.idempotency_key;
          });
    }
    if (taken.count("--timeout") == 0) {
      add(app.add_option("--timeout", v.timeout_seconds,
                         "Seconds for connecting and the request together (default 30, at most "
                         "86400)")
              ->type_name("SECONDS"),
          [](global_options& g, const global_options& l) {
            g.timeout_seconds = l.timeout_seconds;
          });
    }
    globals_.emplace(&app, std::move(level));
  }

  // The global options: the environment's, then each level's from the root
  // down to `leaf`.
  global_options merged_globals(const CLI::App* leaf) const {
    std::vector<const CLI::App*> chain;
    for (const CLI::App* a = leaf; a != nullptr; a = a->get_parent())
      chain.push_back(a);
    global_options g = defaults_;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      auto level = globals_.find(*it);
      if (level == globals_.end()) continue;
      for (const auto& [opt, apply] : level->second->set) {
        if (opt->count() > 0) apply(g, level->second->given);
      }
    }
    return g;
  }

  // The node of the words before the last of `command` ("account" for
  // "account put"), made on first use.
  CLI::App* parent_of(const std::vector<std::string>& words, std::string_view summary) {
    CLI::App* parent = &app_;
    std::string path;
    for (std::size_t i = 0; i + 1 < words.size(); ++i) {
      path += (path.empty() ? "" : " ") + words[i];
      auto it = groups_.find(path);
      if (it == groups_.end()) {
        CLI::App* sub = parent->add_subcommand(words[i], "");
        sub->require_subcommand(1);
        add_globals(*sub, {});
        it = groups_.emplace(path, group{sub, ""}).first;
      }
      if (i + 2 == words.size()) {
        std::string& s = it->second.summary;
        s += (s.empty() ? "" : "; ") + words.back() + ": " + std::string(summary);
      }
      parent = it->second.app;
    }
    return parent;
  }

  void add_command(const api::endpoint& ep) {
    std::vector<std::string> words;
    for (const auto& w : CLI::detail::split(std::string(ep.command), ' ')) {
      if (!w.empty()) words.push_back(w);
    }
    CLI::App* parent = parent_of(words, ep.summary);
    auto cmd = std::make_unique<bound_command>();
    cmd->ep = &ep;
    cmd->app = parent->add_subcommand(words.back(), std::string(ep.summary));

    std::string footer(ep.doc);
    if (!footer.empty()) footer += "\n";
    footer += ep.need == api::access::open ? "Role: none (no key needed)."
                                           : "Role: " + std::string(api::to_string(ep.need)) + ".";
    footer += " " + std::string(api::to_string(ep.verb)) + " " + std::string(ep.path) + ".";
    if (ep.mutating) footer += "\nA write: --idempotency-key KEY makes a retry safe.";
    if (ep.has_body)
      footer += "\n--body JSON|@FILE sends a whole body instead of the field options.";
    if (ep.test_clock_only) footer += "\nOnly on a server started with --test-clock.";
    footer += "\n" + std::string(exit_codes_text);
    cmd->app->footer(footer);

    std::set<std::string> taken;
    for (const api::field& f : ep.path_params) {
      auto b = std::make_unique<bound_field>();
      b->f = &f;
      b->at = where::path;
      b->opt = cmd->app->add_option(std::string(f.name), b->one, field_help(f, false))
                   ->required()
                   ->type_name(type_label(f));
      cmd->fields.push_back(std::move(b));
    }
    auto add_option = [&](const api::field& f, where at, const std::string& grp) {
      auto b = std::make_unique<bound_field>();
      b->f = &f;
      b->at = at;
      const std::string name = option_name(f.name);
      taken.insert(name);
      const std::string help = field_help(f, f.required);
      if (f.t == type::boolean) {
        b->opt = cmd->app->add_flag(name, b->flag, help);
      } else if (f.t == type::array) {
        b->opt = cmd->app->add_option(name, b->many, help)
                     ->allow_extra_args(false)
                     ->type_name(type_label(f));
      } else {
        b->opt = cmd->app->add_option(name, b->one, help)->type_name(type_label(f));
      }
      b->opt->group(grp);
      cmd->fields.push_back(std::move(b));
    };
    for (const api::field& f : ep.query)
      add_option(f, where::query, "Query parameters");
    for (const api::field& f : ep.body)
      add_option(f, where::body, "Body fields");
    if (ep.has_body) {
      taken.insert("--body");
      cmd->body_opt = cmd->app
                          ->add_option("--body", cmd->body_arg,
                                       "The whole JSON body, or @FILE to read it from a file "
                                       "(instead of the field options)")
                          ->type_name("JSON|@FILE")
                          ->group("Body fields");
    }
    add_globals(*cmd->app, taken);
    commands_.push_back(std::move(cmd));
  }

  std::expected<invocation, int> usage(std::ostream& err, const std::string& message) {
    err << "creditctl: " << message << "\n";
    return std::unexpected(exit_usage);
  }

  std::expected<invocation, int> finish(const bound_command& cmd, std::ostream& err) {
    const api::endpoint& ep = *cmd.ep;
    const std::string name(ep.command);
    invocation inv;
    inv.ep = &ep;
    inv.global = merged_globals(cmd.app);
    const global_options& g = inv.global;
    auto server = parse_server_url(g.url);
    if (!server) return usage(err, server.error());
    inv.server = std::move(*server);
    if (ep.need != api::access::open && g.key.empty()) {
      return usage(err, "`" + name +
                            "` needs an API key: give --key KEY, or set CREDITD_KEY (or "
                            "CREDITD_ADMIN_KEY); nothing was sent");
    }
    if (!(g.timeout_seconds > 0 && g.timeout_seconds <= timeout_seconds_max))
      return usage(err, "--timeout must be above 0 and at most 86400 seconds");
    if (!g.idempotency_key.empty() && !ep.mutating)
      return usage(err, "--idempotency-key applies to writes only; `" + name + "` is a read");

    std::vector<std::string> path_values;
    std::vector<given_field> query, body;
    bool body_field_given = false;
    for (const auto& b : cmd.fields) {
      switch (b->at) {
        case where::path:
          path_values.push_back(b->one);
          break;
        case where::query:
          query.push_back(b->value());
          break;
        case where::body:
          body.push_back(b->value());
          body_field_given = body_field_given || b->given();
          break;
      }
    }
    auto target = build_target(ep, path_values, query);
    if (!target) return usage(err, target.error());
    inv.target = inv.server.base_path + *target;

    if (!ep.has_body) return inv;
    if (cmd.body_opt->count() > 0) {
      if (body_field_given)
        return usage(err, "--body sends the whole body: give it or the field options, not both");
      auto raw = load_raw_body(cmd.body_arg);
      if (!raw) return usage(err, raw.error());
      inv.body = std::move(*raw);
      return inv;
    }
    for (const auto& b : cmd.fields) {
      if (b->at == where::body && b->f->required && !b->given()) {
        return usage(err, option_name(b->f->name) +
                              " is required (or give the whole body with "
                              "--body); see creditctl " +
                              name + " --help");
      }
    }
    auto object = build_body(body);
    if (!object) return usage(err, object.error());
    inv.body = boost::json::serialize(*object);
    return inv;
  }

  CLI::App app_{"creditctl: a command-line client of the creditd HTTP API"};
  global_options defaults_;  // from the environment
  std::map<const CLI::App*, std::unique_ptr<global_level>> globals_;
  std::map<std::string, group> groups_;
  std::vector<std::unique_ptr<bound_command>> commands_;
};

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

environment read_environment() {
  return {env_or_empty("CREDITD_URL"), env_or_empty("CREDITD_KEY"),
          env_or_empty("CREDITD_ADMIN_KEY"), env_or_empty("CREDITD_CACERT")};
}

std::expected<invocation, int> parse_command_line(int argc, const char* const* argv,
                                                  const environment& env, std::ostream& out,
                                                  std::ostream& err) {
  command_line cl(env);
  return cl.parse(argc, argv, out, err);
}

}  // namespace creditd::ctl

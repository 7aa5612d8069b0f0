// SVG flame graph of outstanding bytes, after Brendan Gregg's FlameGraph: one rectangle per frame
// path prefix (root at the bottom), width proportional to bytes, children in name order, a
// <title> on every frame, and a little JavaScript for zoom (click), search and FlameGraph's URL
// parameters (?x=&y= zoom, ?s= search). Self-contained: no fonts, scripts or styles fetched.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>

#include "kleak/hash.h"
#include "kleak/render.h"
#include "kleak/text_escape.h"

namespace kleak {

namespace {

constexpr double kWidth = 1200;     // image width
constexpr double kFrameH = 16;      // frame height
constexpr double kFontSize = 12;
constexpr double kFontWidth = 0.59;  // average character width / font size (Verdana-ish)
constexpr double kXPad = 10;
constexpr double kTopPad = 76;      // title, subtitle, legend
constexpr double kBottomPad = 34;   // details line
constexpr double kMinWidth = 0.1;   // frames narrower than this (px) are left out

struct Node {
  std::string name;
  std::string kind;  // the kind of the subtree ("" for the root)
  uint64_t bytes = 0;
  std::map<std::string, std::unique_ptr<Node>> children;  // name order, like FlameGraph
};

std::string xml(std::string_view s) {
  std::string clean = escape_text(s);  // XML 1.0 has no control characters; a viewer shows them escaped
  std::string out;
  out.reserve(clean.size());
  for (char c : clean) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

uint32_t name_hash(std::string_view s) { return fnv1a<uint32_t>(s); }

// A color of the kind's family, varied by the frame's name (the same name, the same color).
std::string color(std::string_view kind, std::string_view name) {
  double v = static_cast<double>(name_hash(name) % 1000) / 1000.0;
  double w = static_cast<double>(name_hash(std::string(name) + "#") % 1000) / 1000.0;
  auto rgb = [](double r, double g, double b) {
    return fmt::format("rgb({},{},{})", static_cast<int>(r), static_cast<int>(g), static_cast<int>(b));
  };
  if (kind == "page") return rgb(220 + 35 * v, 70 + 90 * w, 40 + 30 * v);
  if (kind == "kmalloc") return rgb(205 + 50 * v, 175 + 55 * w, 20 + 50 * v);
  if (kind == "slab") return rgb(60 + 70 * v, 175 + 55 * w, 60 + 40 * v);
  if (kind == "vmalloc") return rgb(80 + 60 * v, 140 + 60 * w, 210 + 45 * v);
  if (kind == "percpu") return rgb(165 + 50 * v, 110 + 50 * w, 215 + 40 * v);
  return rgb(150 + 60 * v, 150 + 60 * v, 150 + 60 * v);  // mixed, unknown, the root
}

std::string legend_color(std::string_view kind) {
  if (kind == "page") return "rgb(235,115,55)";
  if (kind == "kmalloc") return "rgb(230,200,45)";
  if (kind == "slab") return "rgb(95,200,80)";
  if (kind == "vmalloc") return "rgb(110,170,232)";
  if (kind == "percpu") return "rgb(190,135,235)";
  return "rgb(180,180,180)";
}

// The label that fits in `width` px, FlameGraph-style ("long_function_na.."). The script does
// the same when zooming.
std::string fit_label(const std::string& name, double width) {
  auto fits = static_cast<size_t>(std::max(0.0, (width - 3) / (kFontSize * kFontWidth)));
  if (fits < 3) return "";
  if (name.size() <= fits) return name;
  // Cut on a UTF-8 boundary.
  size_t n = fits - 2;
  while (n > 0 && (static_cast<unsigned char>(name[n]) & 0xc0) == 0x80) --n;
  return name.substr(0, n) + "..";
}

std::string pct(uint64_t part, uint64_t total) {
  return total ? fmt::format("{:.2f}%", 100.0 * static_cast<double>(part) / static_cast<double>(total)) : "0%";
}

struct Writer {
  std::string out;
  uint64_t total = 0;
  double scale = 0;  // px per byte
  double bottom = 0;  // y of the root frame's top
  size_t frames = 0;

  void frame(const Node& n, double x, size_t depth) {
    double w = static_cast<double>(n.bytes) * scale;
    if (w < kMinWidth) return;
    double y = bottom - static_cast<double>(depth) * kFrameH;
    std::string name = depth == 0 ? "all" : n.name;
    out += fmt::format(
        "<g class=\"f\"><title>{} ({}, {} bytes, {})</title><rect x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" "
        "height=\"{:.1f}\" fill=\"{}\" rx=\"2\" ry=\"2\"/><text x=\"{:.2f}\" y=\"{:.1f}\">{}</text></g>\n",
        xml(name), human_bytes(n.bytes), n.bytes, pct(n.bytes, total), x, y, w, kFrameH - 1,
        depth == 0 ? color("", name) : color(n.kind, name), x + 3, y + kFontSize, xml(fit_label(name, w)));
    ++frames;
    double cx = x;
    for (const auto& [_, c] : n.children) {
      frame(*c, cx, depth + 1);
      cx += static_cast<double>(c->bytes) * scale;
    }
  }
};

size_t depth_of(const Node& n) {
  size_t d = 0;
  for (const auto& [_, c] : n.children) d = std::max(d, 1 + depth_of(*c));
  return d;
}

// The script: zoom, search, details, FlameGraph's URL parameters. Kept free of "]]>".
constexpr const char* kScript = R"JS(
"use strict";
var svg, details, searchbtn, unzoombtn, matchedtxt, frames = [], searching = 0, currentSearch = null;
var XPAD = %XPAD%, FONT = %FONT%, FONTW = %FONTW%, WIDTH = %WIDTH%;
function rectOf(g) { return g.getElementsByTagName("rect")[0]; }
function nameOf(g) {
  var t = g.getElementsByTagName("title")[0].textContent;
  return t.replace(/ \([^()]*\)$/, "");
}
function fitText(g) {
  var r = rectOf(g), t = g.getElementsByTagName("text")[0];
  var w = parseFloat(r.getAttribute("width"));
  t.setAttribute("x", (parseFloat(r.getAttribute("x")) + 3).toFixed(2));
  var fits = Math.floor((w - 3) / (FONT * FONTW));
  var name = nameOf(g);
  if (fits < 3) { t.textContent = ""; return; }
  if (name.length <= fits) { t.textContent = name; return; }
  t.textContent = name.substring(0, fits - 2) + "..";
}
function zoom(g) {
  var r = rectOf(g);
  var x0 = g._x, w0 = g._w, y0 = parseFloat(r.getAttribute("y"));
  var ratio = (WIDTH - 2 * XPAD) / w0, eps = 0.02;
  unzoombtn.classList.remove("hide");
  frames.forEach(function (e) {
    var er = rectOf(e), ey = parseFloat(er.getAttribute("y"));
    e.classList.remove("parent");
    e.classList.remove("hide");
    if (ey > y0) {  // below: an ancestor spans the zoomed frame, everything else goes
      if (e._x <= x0 + eps && e._x + e._w >= x0 + w0 - eps) {
        e.classList.add("parent");
        er.setAttribute("x", XPAD.toFixed(2));
        er.setAttribute("width", (WIDTH - 2 * XPAD).toFixed(2));
      } else {
        e.classList.add("hide");
      }
    } else if (e._x >= x0 - eps && e._x + e._w <= x0 + w0 + eps) {  // the frame and its subtree
      er.setAttribute("x", (XPAD + (e._x - x0) * ratio).toFixed(2));
      er.setAttribute("width", (e._w * ratio).toFixed(2));
    } else {
      e.classList.add("hide");
    }
    fitText(e);
  });
  svg.setAttribute("data-zoomed", nameOf(g));
  if (currentSearch !== null) search(currentSearch);
}
function unzoom() {
  unzoombtn.classList.add("hide");
  frames.forEach(function (e) {
    var er = rectOf(e);
    e.classList.remove("parent");
    e.classList.remove("hide");
    er.setAttribute("x", e._x.toFixed(2));
    er.setAttribute("width", e._w.toFixed(2));
    fitText(e);
  });
  svg.removeAttribute("data-zoomed");
  if (currentSearch !== null) search(currentSearch);
}
function resetSearch() {
  frames.forEach(function (e) { rectOf(e).setAttribute("fill", e._fill); });
  currentSearch = null;
  searching = 0;
  searchbtn.classList.remove("on");
  searchbtn.firstChild.nodeValue = "Search";
  matchedtxt.classList.add("hide");
  matchedtxt.firstChild.nodeValue = "";
}
function search(term) {
  var re;
  try { re = new RegExp(term); } catch (err) { return; }
  resetSearch();
  currentSearch = term;
  var matches = [], root = 0;
  frames.forEach(function (e) {
    if (e.classList.contains("hide")) return;
    var w = parseFloat(rectOf(e).getAttribute("width"));
    if (w > root) root = w;
    if (!re.test(nameOf(e))) return;
    rectOf(e).setAttribute("fill", "rgb(230,0,230)");
    matches.push([parseFloat(rectOf(e).getAttribute("x")), w]);
  });
  if (!matches.length) { currentSearch = term; return; }
  // Count overlapping matches once: a match inside another match adds nothing.
  matches.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
  var total = 0, end = -1;
  matches.forEach(function (m) {
    if (m[0] + m[1] <= end + 0.01) return;
    total += m[1];
    end = m[0] + m[1];
  });
  searching = 1;
  searchbtn.classList.add("on");
  searchbtn.firstChild.nodeValue = "Reset Search";
  matchedtxt.classList.remove("hide");
  matchedtxt.firstChild.nodeValue = "Matched: " + (100 * total / root).toFixed(1) + "%";
}
function searchPrompt() {
  if (searching) { resetSearch(); return; }
  var term = prompt("Search frames (regular expression):", "");
  if (term) search(term);
}
function init(evt) {
  svg = document.documentElement;
  details = document.getElementById("details").firstChild;
  searchbtn = document.getElementById("search");
  unzoombtn = document.getElementById("unzoom");
  matchedtxt = document.getElementById("matched");
  frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
  frames.forEach(function (g) {
    var r = rectOf(g);
    g._x = parseFloat(r.getAttribute("x"));
    g._w = parseFloat(r.getAttribute("width"));
    g._fill = r.getAttribute("fill");
    g.addEventListener("click", function () { zoom(g); });
    g.addEventListener("mouseover", function () {
      details.nodeValue = g.getElementsByTagName("title")[0].textContent;
    });
    g.addEventListener("mouseout", function () { details.nodeValue = " "; });
  });
  unzoombtn.addEventListener("click", unzoom);
  searchbtn.addEventListener("click", searchPrompt);
  var params = new URL(window.location.href).searchParams;
  if (params.get("x") !== null && params.get("y") !== null) {
    var want = frames.filter(function (g) {
      var r = rectOf(g);
      return r.getAttribute("x") === params.get("x") && r.getAttribute("y") === params.get("y");
    });
    if (want.length) zoom(want[0]);
  }
  if (params.get("s")) search(params.get("s"));
  svg.setAttribute("data-ready", "1");
}
)JS";

std::string script() {
  std::string s = kScript;
  auto put = [&](std::string_view key, const std::string& v) {
    for (size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), v);
  };
  put("%XPAD%", fmt::format("{}", kXPad));
  put("%FONT%", fmt::format("{}", kFontSize));
  put("%FONTW%", fmt::format("{}", kFontWidth));
  put("%WIDTH%", fmt::format("{}", kWidth));
  return s;
}

}  // namespace

std::string render_svg(const Report& r) {
  Node root;
  std::vector<std::string> kinds;
  uint64_t shown_count = 0;
  size_t shown_groups = 0;
  for (const auto& g : r.stacks) {
    if (g.bytes == 0) continue;
    ++shown_groups;
    shown_count += g.count;
    std::vector<std::string> path = flame_path(r, g);
    for (auto& name : path) name = escape_text(name);  // before labels are cut to fit
    std::string kind = escape_text(g.kind);
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
    root.bytes += g.bytes;
    Node* n = &root;
    for (const auto& f : path) {
      auto& c = n->children[f];
      if (!c) {
        c = std::make_unique<Node>();
        c->name = f;
        c->kind = kind;
      } else if (c->kind != kind) {
        c->kind = "mixed";
      }
      c->bytes += g.bytes;
      n = c.get();
    }
  }
  std::sort(kinds.begin(), kinds.end());

  size_t depth = depth_of(root);
  double height = kTopPad + static_cast<double>(depth + 1) * kFrameH + kBottomPad;
  Writer w;
  w.total = root.bytes;
  w.scale = root.bytes ? (kWidth - 2 * kXPad) / static_cast<double>(root.bytes) : 0;
  w.bottom = height - kBottomPad - kFrameH;

  std::string& o = w.out;
  o += "<?xml version=\"1.0\" standalone=\"no\"?>\n";
  o += fmt::format(
      "<svg version=\"1.1\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" onload=\"init(evt)\" "
      "xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n",
      kWidth, height);
  o += "<!-- kleak: outstanding kernel memory as a flame graph (after FlameGraph by Brendan Gregg). "
       "Click a frame to zoom, Search to highlight a regular expression. -->\n";
  o += fmt::format(
      "<style type=\"text/css\">\n"
      "text {{ font-family: Verdana, \"DejaVu Sans\", sans-serif; font-size: {}px; fill: rgb(0,0,0); }}\n"
      "#title {{ text-anchor: middle; font-size: 17px; }}\n"
      "#subtitle {{ text-anchor: middle; fill: rgb(90,90,90); }}\n"
      "#search, #matched {{ text-anchor: end; }}\n"
      "#search, #unzoom {{ cursor: pointer; opacity: 0.6; }}\n"
      "#search:hover, #search.on, #unzoom:hover {{ opacity: 1; }}\n"
      "g.f {{ cursor: pointer; }}\n"
      "g.f:hover rect {{ stroke: rgb(0,0,0); stroke-width: 0.5; }}\n"
      "g.f text {{ pointer-events: none; }}\n"
      ".hide {{ display: none; }}\n"
      ".parent {{ opacity: 0.5; }}\n"
      "</style>\n",
      kFontSize);
  o += "<script type=\"text/ecmascript\"><![CDATA[" + script() + "]]></script>\n";
  o += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"rgb(250,250,245)\"/>\n", kWidth,
                   height);
  o += fmt::format("<text id=\"title\" x=\"{}\" y=\"24\">kleak: outstanding kernel memory by call stack</text>\n",
                   kWidth / 2);
  std::string sub = fmt::format("{}, window {:.1f} s{}: {} in {} allocations, {} of {} groups", r.kernel,
                                r.duration_s, r.filter.empty() ? "" : ", filter " + r.filter,
                                human_bytes(root.bytes), shown_count, shown_groups, r.groups_total);
  if (root.bytes != r.total_bytes && r.total_bytes)
    sub += fmt::format(" (all outstanding: {})", human_bytes(r.total_bytes));
  o += fmt::format("<text id=\"subtitle\" x=\"{}\" y=\"44\">{}</text>\n", kWidth / 2, xml(sub));
  double lx = kXPad;
  for (const auto& k : kinds) {
    o += fmt::format("<rect x=\"{:.1f}\" y=\"56\" width=\"10\" height=\"10\" fill=\"{}\"/>"
                     "<text x=\"{:.1f}\" y=\"65\">{}</text>\n",
                     lx, legend_color(k), lx + 14, xml(k));
    lx += 14 + static_cast<double>(k.size()) * kFontSize * kFontWidth + 16;
  }
  o += fmt::format("<text id=\"unzoom\" class=\"hide\" x=\"{}\" y=\"24\">Reset Zoom</text>\n", kXPad);
  o += fmt::format("<text id=\"search\" x=\"{}\" y=\"24\">Search</text>\n", kWidth - kXPad);
  o += fmt::format("<text id=\"matched\" class=\"hide\" x=\"{}\" y=\"{}\"> </text>\n", kWidth - kXPad,
                   height - 12);
  o += fmt::format("<text id=\"details\" x=\"{}\" y=\"{}\"> </text>\n", kXPad, height - 12);
  if (root.bytes == 0) {
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no outstanding kernel allocations "
                     "match</text>\n", kWidth / 2, w.bottom + kFontSize);
  } else {
    o += "<g id=\"frames\">\n";
    w.frame(root, kXPad, 0);
    o += "</g>\n";
  }
  o += "</svg>\n";
  return std::move(w.out);
}

}  // namespace kleak

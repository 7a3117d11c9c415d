/*
 * The drawing page: keep one drawn route, send it with the facts to /v1/classify and
 * /v1/conflicts, and show the answer beside the map without reloading.
 *
 * Text from the service (layer names, attributes, rule texts) and from the applicant is
 * only ever set as DOM text (textContent, text nodes), never parsed as HTML, so a
 * feature named "<img onerror=...>" shows as those characters.
 */
"use strict";

function routecheckDraw(map, routeGroup, config) {
  var form = document.getElementById("rc-form");
  var status = document.getElementById("rc-status");
  var conflictLayer = L.featureGroup().addTo(map);
  var conflictsById = {};
  // fit what is shown into the part of the map the panel does not cover
  var panel = document.getElementById("rc-panel");
  function fit(bounds) {
    var right = panel.offsetWidth + 30;
    map.fitBounds(bounds, { maxZoom: 19, paddingTopLeft: [50, 30], paddingBottomRight: [right, 30] });
  }

  // keep a single route: a newly drawn line replaces the previous one
  map.on(L.Draw.Event.CREATED, function (event) {
    routeGroup.eachLayer(function (layer) {
      if (layer !== event.layer) routeGroup.removeLayer(layer);
    });
    routeGroup.addLayer(event.layer);
    clearResult();
  });
  map.on(L.Draw.Event.DELETED, clearResult);
  map.on(L.Draw.Event.EDITED, clearResult);

  function routeGeometry() {
    var lines = [];
    routeGroup.eachLayer(function (layer) {
      var geometry = layer.toGeoJSON().geometry;
      if (geometry.type === "LineString") lines.push(geometry.coordinates);
      if (geometry.type === "MultiLineString") lines = lines.concat(geometry.coordinates);
    });
    if (lines.length === 0) return null;
    if (lines.length === 1) return { type: "LineString", coordinates: lines[0] };
    return { type: "MultiLineString", coordinates: lines };
  }

  function facts() {
    var data = new FormData(form);
    var result = {};
    ["voltage_kv", "capacity_kw"].forEach(function (name) {
      var value = data.get(name);
      if (value !== null && value !== "") result[name] = Number(value);
    });
    ["customer", "area", "start_date"].forEach(function (name) {
      var value = data.get(name);
      if (value) result[name] = value;
    });
    var threeZero = data.get("three_zero");
    if (threeZero) result.three_zero = threeZero === "true";
    result.fells_trees = data.get("fells_trees") !== null;
    return result;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/geo+json", Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw data;
        return data;
      });
    });
  }

  function submit() {
    var geometry = routeGeometry();
    if (geometry === null) {
      showStatus("Draw a route first (the line tool, top left).", true);
      return Promise.resolve(null);
    }
    var feature = { type: "Feature", geometry: geometry, properties: facts() };
    showStatus("Checking…", false);
    return Promise.all([post(config.classifyUrl, feature), post(config.conflictsUrl, feature)])
      .then(function (answers) {
        showDecision(answers[0]);
        showConflicts(answers[1]);
        showStatus("", false);
        return answers[0];
      })
      .catch(function (problem) {
        clearResult();
        var text = problem && problem.detail ? problem.detail : String(problem);
        showStatus(text, true);
        return null;
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });

  function showStatus(text, isError) {
    status.textContent = text;
    status.className = isError ? "rc-error" : "";
  }

  function clearResult() {
    document.getElementById("rc-result").hidden = true;
    conflictLayer.clearLayers();
    conflictsById = {};
  }

  function item(list, parts) {
    var li = document.createElement("li");
    parts.forEach(function (part) {
      if (part === null || part === undefined || part === "") return;
      var span = document.createElement("span");
      span.textContent = String(part);
      li.appendChild(span);
      li.appendChild(document.createTextNode(" "));
    });
    list.appendChild(li);
  }

  function fill(id, entries, parts) {
    var list = document.getElementById(id);
    list.replaceChildren();
    entries.forEach(function (entry) {
      item(list, parts(entry));
    });
    if (entries.length === 0) item(list, ["none"]);
  }

  function showDecision(decision) {
    var track = decision.track;
    var limit = track.time_limit_working_days;
    document.getElementById("rc-track").textContent =
      track.name + " (" + track.code + ")" +
      (limit ? " · within " + limit + " working days" : "") +
      (track.work_may_start ? " · work may start " + track.work_may_start : "");
    document.getElementById("rc-track").dataset.track = track.code;
    fill("rc-reasons", decision.reasons, function (r) {
      return [r.clause, r.text, "(" + r.effect + ")"];
    });
    fill("rc-bureaus", decision.bureaus, function (b) {
      var items = (b.items || []).map(function (i) { return i.name; }).join("; ");
      return [b.name, b.name_en ? "(" + b.name_en + ")" : "", b.role, b.lead ? "lead" : "", items];
    });
    fill("rc-warnings", decision.warnings || [], function (w) {
      return [w.text];
    });
    document.getElementById("rc-result").hidden = false;
  }

  function colour(kind) {
    return config.colours[kind] || config.otherColour;
  }

  function label(properties) {
    var div = document.createElement("div");
    var title = document.createElement("b");
    title.textContent = properties.kind + ": " + (properties.name || properties.feature_id);
    div.appendChild(title);
    div.appendChild(document.createElement("br"));
    div.appendChild(document.createTextNode(
      properties.feature_id + " · " + properties.length_m + " m of route inside"));
    return div;
  }

  function showConflicts(collection) {
    conflictLayer.clearLayers();
    conflictsById = {};
    var body = document.querySelector("#rc-conflicts tbody");
    body.replaceChildren();
    collection.features.forEach(function (feature) {
      var p = feature.properties;
      var style = { color: colour(p.kind), weight: 2, fillColor: colour(p.kind), fillOpacity: 0.45 };
      var layer = L.geoJSON(feature, { style: function () { return style; } });
      layer.bindTooltip(label(p));
      layer.bindPopup(label(p));
      layer.addTo(conflictLayer);
      conflictsById[p.layer + ":" + p.feature_id] = layer;

      var row = document.createElement("tr");
      row.dataset.featureId = p.feature_id;
      [p.layer, p.kind, p.feature_id, p.name || "—", p.length_m].forEach(function (value, i) {
        var cell = document.createElement("td");
        if (i === 1) {
          var swatch = document.createElement("span");
          swatch.className = "rc-swatch";
          swatch.style.background = colour(p.kind);
          cell.appendChild(swatch);
        }
        cell.appendChild(document.createTextNode(String(value)));
        row.appendChild(cell);
      });
      row.addEventListener("click", function () {
        body.querySelectorAll("tr.rc-selected").forEach(function (r) {
          r.classList.remove("rc-selected");
        });
        row.classList.add("rc-selected");
        fit(layer.getBounds());
        layer.openPopup();
      });
      body.appendChild(row);
    });
    routeGroup.eachLayer(function (layer) {
      if (layer.bringToFront) layer.bringToFront();
    });
  }

  // for tests and for embedding: put a GeoJSON route on the map as if drawn
  function setRoute(geojson) {
    routeGroup.clearLayers();
    L.geoJSON(geojson, { style: { color: config.routeColour, weight: 4 } }).eachLayer(
      function (layer) { routeGroup.addLayer(layer); });
    clearResult();
    fit(routeGroup.getBounds());
  }

  window.routecheck = { map: map, route: routeGeometry, setRoute: setRoute, submit: submit };
}

// A1111's helpers for extension scripts: gradioApp(), the current tab, and the UI callbacks (onUiLoaded, ...).
// Loaded before every other script (files are inlined sorted by name, extensions' after ours).

// Gradio adds these scripts to the page after it has loaded: a listener added now for an event that has already
// happened (DOMContentLoaded, load) would never run, so it runs once, right away, as it would have in A1111.
(function () {
    function happened(type) {
        return (type === "DOMContentLoaded" && document.readyState !== "loading") ||
            (type === "load" && document.readyState === "complete");
    }

    for (const target of [document, window]) {
        const addEventListener = target.addEventListener.bind(target);
        target.addEventListener = function (type, listener, options) {
            if (!happened(type) || !listener) {
                return addEventListener(type, listener, options);
            }
            setTimeout(function () {
                const event = new Event(type);
                if (typeof listener === "function") {
                    listener.call(target, event);
                } else {
                    listener.handleEvent(event);
                }
            }, 0);
        };
    }
})();

// Gradio 3 put a textbox's <textarea> (and an <input>) right inside its <label>; Gradio 6 wraps it in a <div>. The
// selectors A1111 extensions use ("#txt2img_prompt > label > textarea") are read as "label textarea" here.
(function () {
    const gradio3Child = /label\s*>\s*(textarea|input)/g;

    function translated(selectors) {
        return typeof selectors === "string" && selectors.includes("label") ?
            selectors.replace(gradio3Child, "label $1") : selectors;
    }

    for (const prototype of [Document.prototype, DocumentFragment.prototype, Element.prototype]) {
        for (const name of ["querySelector", "querySelectorAll", "matches", "closest"]) {
            const original = prototype[name];
            if (typeof original !== "function") {
                continue;
            }
            prototype[name] = function (selectors) {
                return original.call(this, translated(selectors));
            };
        }
    }
})();

function gradioApp() {
    const elems = document.getElementsByTagName("gradio-app");
    const elem = elems.length === 0 ? document : elems[0];
    if (elem !== document && !elem.getElementById) {
        elem.getElementById = function (id) {
            return document.getElementById(id);
        };
    }
    return elem.shadowRoot ? elem.shadowRoot : elem;
}

function get_uiCurrentTab() {
    return gradioApp().querySelector("#tabs button[role=tab][aria-selected=true]");
}

function get_uiCurrentTabContent() {
    const tab = get_uiCurrentTab();
    const panelId = tab && tab.getAttribute("aria-controls");
    return panelId ? gradioApp().getElementById(panelId) : null;
}

var uiUpdateCallbacks = [];
var uiAfterUpdateCallbacks = [];
var uiLoadedCallbacks = [];
var uiTabChangeCallbacks = [];
var optionsChangedCallbacks = [];
var uiAfterUpdateTimeout = null;
var uiCurrentTab = null;
var executedOnLoaded = false;
var opts = {};
var optionsJson = null;

function onUiUpdate(callback) {
    uiUpdateCallbacks.push(callback);
}

function onAfterUiUpdate(callback) {
    uiAfterUpdateCallbacks.push(callback);
}

function onUiLoaded(callback) {
    uiLoadedCallbacks.push(callback);
}

function onUiTabChange(callback) {
    uiTabChangeCallbacks.push(callback);
}

function onOptionsChanged(callback) {
    optionsChangedCallbacks.push(callback);
}

function executeCallbacks(queue, arg) {
    for (const callback of queue) {
        try {
            callback(arg);
        } catch (e) {
            console.error("error running callback", callback, ":", e);
        }
    }
}

// opts: the settings as the page's #settings_json text holds them (A1111's); onOptionsChanged fires when it changes.
function updateOptions() {
    const textarea = gradioApp().querySelector("#settings_json textarea");
    if (!textarea || textarea.value === optionsJson) {
        return;
    }
    try {
        opts = JSON.parse(textarea.value);
    } catch (e) {
        return;
    }
    optionsJson = textarea.value;
    executeCallbacks(optionsChangedCallbacks);
}

function scheduleAfterUiUpdateCallbacks() {
    clearTimeout(uiAfterUpdateTimeout);
    uiAfterUpdateTimeout = setTimeout(function () {
        updateOptions();
        executeCallbacks(uiAfterUpdateCallbacks);
    }, 200);
}

(function () {
    function uiChanged(mutations) {
        if (!executedOnLoaded && gradioApp().querySelector("#txt2img_prompt")) {
            executedOnLoaded = true;
            executeCallbacks(uiLoadedCallbacks);
        }
        executeCallbacks(uiUpdateCallbacks, mutations);
        scheduleAfterUiUpdateCallbacks();
        const newTab = get_uiCurrentTab();
        if (newTab && newTab !== uiCurrentTab) {
            uiCurrentTab = newTab;
            executeCallbacks(uiTabChangeCallbacks);
        }
    }

    function start() {
        new MutationObserver(uiChanged).observe(gradioApp(), {childList: true, subtree: true});
        // gradio may add these scripts after the UI is built: look once, after the other scripts have registered.
        setTimeout(function () {
            uiChanged([]);
        }, 0);
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();

// Keyboard shortcuts of the prompt boxes: Ctrl+Enter generates, Alt+Enter skips, Esc interrupts.
(function () {
    function visibleButton(ids) {
        for (const id of ids) {
            const element = document.getElementById(id);
            const button = element && (element.tagName === "BUTTON" ? element : element.querySelector("button"));
            if (button && button.offsetParent !== null) {
                return button;
            }
        }
        return null;
    }

    function activeTabName() {
        const prompt = document.activeElement && document.activeElement.closest("[id$='_prompt'], [id$='_neg_prompt']");
        if (!prompt) {
            return null;
        }
        return prompt.id.startsWith("img2img") ? "img2img" : "txt2img";
    }

    document.addEventListener("keydown", function (event) {
        const tab = activeTabName();
        if (!tab) {
            return;
        }
        let button = null;
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
            button = visibleButton([tab + "_generate"]);
        } else if (event.key === "Enter" && event.altKey) {
            button = visibleButton([tab + "_skip"]);
        } else if (event.key === "Escape") {
            button = visibleButton([tab + "_interrupt"]);
        }
        if (button) {
            event.preventDefault();
            button.click();
        }
    });
})();

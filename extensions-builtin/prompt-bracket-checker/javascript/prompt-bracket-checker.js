// Marks a prompt box whose (), [] or {} brackets do not pair up, and says which ones in its tooltip.
(function () {
    const PROMPT_BOXES = ["txt2img_prompt", "txt2img_neg_prompt", "img2img_prompt", "img2img_neg_prompt"];
    const PAIRS = [["(", ")", "round brackets"], ["[", "]", "square brackets"], ["{", "}", "curly brackets"]];

    function countUnescaped(text, character) {
        let count = 0;
        for (let i = 0; i < text.length; i++) {
            if (text[i] === "\\") {
                i++;
            } else if (text[i] === character) {
                count++;
            }
        }
        return count;
    }

    function bracketProblems(text) {
        const problems = [];
        for (const [open, close, name] of PAIRS) {
            const difference = countUnescaped(text, open) - countUnescaped(text, close);
            if (difference > 0) {
                problems.push(name + ": " + difference + " more opening than closing");
            } else if (difference < 0) {
                problems.push(name + ": " + -difference + " more closing than opening");
            }
        }
        return problems;
    }

    function check(textarea) {
        const box = textarea.closest("[id]");
        const problems = bracketProblems(textarea.value);
        textarea.title = problems.length ? "Mismatched brackets - " + problems.join("; ") : "";
        box.classList.toggle("prompt-bracket-mismatch", problems.length > 0);
    }

    document.addEventListener("input", function (event) {
        const textarea = event.target;
        if (textarea.tagName !== "TEXTAREA") {
            return;
        }
        const box = textarea.closest(PROMPT_BOXES.map(function (id) { return "#" + id; }).join(", "));
        if (box) {
            check(textarea);
        }
    });
})();

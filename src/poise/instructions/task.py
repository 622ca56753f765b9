"""Task-type classification: general, code, support, creative, medical, legal or financial.

A transparent cue scorer: each class has weighted word stems and phrases in English, Spanish,
French, German (plus Italian, Portuguese, Dutch, Russian, Japanese and Chinese for the common
ones), matched on lower-cased, accent-stripped text. Code found in the message adds to ``code``.
The winner needs :data:`MIN_SCORE`; otherwise the task is ``general``. The cues that made the
winner win are returned so a rule's reason can quote them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

TASKS: tuple[str, ...] = ("general", "code", "support", "creative", "medical", "legal", "financial")
MIN_SCORE = 2.0

# (regex over normalised text, weight). Stems end without \b so "symptom" matches "symptoms".
_CUES: dict[str, list[tuple[str, float]]] = {
    "code": [
        (r"\b(code|codigo|codice|programm|coding|script|function|funcion|fonction|funktion|funzione)", 2),
        (r"\b(compile|compil|debug|bug|stack ?trace|exception|traceback|syntax|regex|api\b|json|csv)", 2),
        (r"\b(loop|bucle|boucle|schleife|array|list of dict|variable|class|klasse|classe|clase|method)", 1.5),
        (r"\b(error|erreur|fehler|nameerror|keyerror|typeerror|nullpointer|segfault|undefined)", 1),
        (r"\b(query|requete|consulta|database|sql|table|select|join)", 1),
        (r"\b(sort|ordenar|trier|sortier|reverse|parse|declare|declar|generic|closure|lambda|struct)", 1),
        (r"\b(algorithm|recursion|git|npm|pip|deploy|permission denied|compile|library|framework)", 1.5),
        (r"(代码|コード|函数|関数|код\b|функци|прочитать файл|読む|配列|对象|ソート|排序|словар|файл)", 2),
        (r"\b(read a file|line by line|ligne|zeile|datei|fichier|bestand|arquivo|file csv|csv file)", 1),
    ],
    "support": [
        (r"\b(log ?in|sign ?in|password|passwort|contrasena|mot de passe|senha|wachtwoord)", 2.5),
        (r"\b(account|cuenta|compte|konto|conta|account)\b", 2),
        (r"\b(order|pedido|commande|bestellung|ordine|bestelling|package|parcel|paquete|colis|paket)", 2.5),
        (r"\b(refund|reembolso|rembourse|erstattung|rimborso|charged|cobrar|cobraron|factura|invoice)", 3),
        (r"\b(subscription|suscripcion|abonnement|assinatura|abbonamento|cancel|cancelar|annuler|kundig)", 2),
        (r"\b(shipped|delivery|deliver|geleverd|arrived|arrive|llego|angekommen|arrivee|entrega)", 2),
        (r"\b(the app|la app|l'app|die app|crash|plante|sturzt|abstuerz|stuerzt|keeps crashing)", 2),
        (r"\b(support|customer service|atencion al cliente|service client|kundendienst|billing)", 2),
        (r"\b(reset|restablecer|reinitialiser|zurucksetzen|accedere|acceder|iniciar sesion|connecter)", 2),
        (
            r"\b(damaged|danado|wrong product|sbagliato|download my|not working|doesn't work|"
            r"broke\b|broken)",
            2,
        ),
        (r"\b(checkout|payment|when i pay|product|producto|produit|produkt|prodotto|produto)", 2),
        (r"(ログイン|パスワード|订单|账户|аккаунт|заказ|войти)", 3),
    ],
    "creative": [
        (r"\b(poem|poema|poeme|gedicht|poesia|haiku|limerick|sonnet|lyrics|song|cancion|chanson|lied)", 3),
        (r"\b(story|stories|cuento|histoire|geschichte|storia|historia|verhaal|tale|fairy)", 2.5),
        (r"\b(slogan|tagline|name ideas|brainstorm|catchy|joke|chiste|blague|witz|cover letter)", 3),
        (
            r"\b(write (me|a|an)\b|escribe|ecris|schreib|scrivi|escreva|schrijf|erzahl|imagine|"
            r"fiction|character)",
            1,
        ),
        (r"\b(birthday card|toast|speech|poeme|poetry)", 2),
        (r"(詩|诗|стих|рассказ|物語|故事)", 3),
    ],
    "medical": [
        (r"\b(symptom|sintoma|symptome|doctor|docteur|arzt|medico|medecin|hospital|clinic|nurse\b)", 3),
        (r"\b(fever|fiebre|fievre|fieber|febbre|headache|dolor|douleur|schmerz|dolore|pain|ache|mal a)", 3),
        (r"\b(medication|medicine|medicament|medikament|farmaco|remedio|drug|pill|dose|dosis|dosage)", 3),
        (r"\b(ibuprofen|paracetamol|aspirin|antibiotic|amoxicillin|metformin|insulin|vaccine)", 3),
        (r"\b(diabetes|cancer|infection|rash|allerg|pregnan|embarazada|grossesse|gravida|blood pressure)", 3),
        (
            r"\b(sore throat|cough|garganta|gorge|poitrine|chest|heart|herz|coeur|bauch|stomach|"
            r"side effects)",
            2,
        ),
        (r"\b(nebenwirkung|effetti collaterali|effets secondaires|efectos secundarios|flu|grippe|gripe)", 3),
        (r"(头痛|发烧|吃什么药|病気|症状|врач|лекарств|болит)", 3),
    ],
    "legal": [
        (r"\b(legal\b|illegal|lawyer|attorney|abogado|avocat|anwalt|avvocato|advogado|law\b|laws\b)", 3),
        (r"\b(sue|lawsuit|demanda|proces|klage|processar|court|tribunal|gericht|judge)", 3),
        (
            r"\b(contract|contrato|contrat|vertrag|contratto|clause|lease|landlord|tenant|casero|"
            r"vermieter)",
            2.5,
        ),
        (r"\b(my rights|derechos|droit|recht|diritti|direitos|permission|consent|copyright|enforceable)", 2),
        (
            r"\b(fire me|despid|licencier|kundig|kuendig|divorce|divorzio|divorcio|custody|will\b|"
            r"testament)",
            2.5,
        ),
        (
            r"\b(deposit|kaution|fianza|caution\b|danos morais|damages|liable|liability|gdpr|"
            r"binding|bindend)",
            2,
        ),
        (r"(法律|弁護士|律师|закон|юрист|суд)", 3),
    ],
    "financial": [
        (
            r"\b(invest|inversion|investir|investieren|investire|stock|acciones|actions\b|aktie|"
            r"azioni|acoes)",
            3,
        ),
        (r"\b(bond|obligation|anleihe|obbligazioni|etf|index fund|fondo|crypto|bitcoin|portfolio)", 3),
        (r"\b(loan|prestamo|pret\b|kredit|credito|mortgage|hipoteca|hypotheque|ipoteca|ипотек)", 3),
        (r"\b(retirement|jubilacion|retraite|rente|pension|ira\b|401k|savings|ahorr|epargne|sparen)", 3),
        (r"\b(tax|taxes|impuesto|impot|steuer|tasse|deduct|budget|presupuesto|interest rate|inflation)", 3),
        (r"\b(salary|debt|deuda|dette|schulden|pay rent|can't pay|afford|money|dinero|argent|geld)", 2),
        (r"\b(tilgen|sparplan|zinsen|interest|compound interest)", 2),
        (r"(投资|股票|投資|株|кредит|инвест|деньги)", 3),
    ],
}

_COMPILED: dict[str, list[tuple[re.Pattern[str], float]]] = {
    task: [(re.compile(p), w) for p, w in cues] for task, cues in _CUES.items()
}


@dataclass(frozen=True)
class TaskGuess:
    """The winning task type, the score of every class and the winner's cues."""

    task: str
    scores: dict[str, float]
    cues: tuple[str, ...]


def normalise(text: str) -> str:
    """Lower-case and strip accents, so cues match 'Ärger', 'arger' and 'ärger' alike."""
    if text.isascii():  # NFKD leaves ASCII as it is, and it has no combining marks
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def classify_task(prose: str, *, has_code: bool = False, code_language: str | None = None) -> TaskGuess:
    """Score every task type for a message and pick the winner.

    Args:
        prose: the message with code removed.
        has_code: the message contains code (a block, inline or pasted).
        code_language: the detected programming language, if any.

    Returns:
        The winner (``general`` when nothing scores :data:`MIN_SCORE`), per-class scores
        normalised to sum to 1 (``general`` included) and the winner's cues.
    """
    text = normalise(prose)
    raw: dict[str, float] = {}
    cues: dict[str, list[str]] = {}
    for task, patterns in _COMPILED.items():
        total = 0.0
        found: list[str] = []
        for pattern, weight in patterns:
            m = pattern.search(text)
            if m:
                total += weight
                found.append(m.group(0).strip())
        raw[task] = total
        cues[task] = found
    if has_code:
        raw["code"] += 4.0
        cues["code"].insert(0, "code in the message")
    if code_language:
        raw["code"] += 2.5
        cues["code"].insert(0, f"programming language {code_language}")
    # Ties go to the more specific class, in this order (a medical question about code is medical).
    order = ("medical", "legal", "financial", "code", "support", "creative")
    winner = max(order, key=lambda t: (raw[t], -order.index(t)))
    if raw[winner] < MIN_SCORE:
        winner = "general"
    raw["general"] = MIN_SCORE
    total = sum(raw.values())
    scores = {t: round(raw[t] / total, 3) for t in TASKS}
    return TaskGuess(winner, scores, tuple(cues.get(winner, ())))

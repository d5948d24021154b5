"""The lines the platform itself says on a call (goodbyes, holding lines), in each agent language.

The agent's own lines (opening, questions, closing) are written by the user in the agent's
language; these are the ones nobody writes, so a Spanish agent must not fall back to English
for them. English is the reference; a language without a line gets the English one.
"""

LINES: dict[str, dict[str, str]] = {
    "dnc": {
        "en": "Understood. I've removed your number and we won't call you again. Sorry for the trouble, goodbye.",
        "es": "Entendido. He retirado su número y no volveremos a llamarle. Disculpe las molestias, adiós.",
        "fr": "Entendu. J'ai retiré votre numéro et nous ne vous rappellerons plus. "
        "Désolé pour le dérangement, au revoir.",
        "de": "Verstanden. Ich habe Ihre Nummer entfernt, wir rufen Sie nicht mehr an. "
        "Entschuldigen Sie die Störung, auf Wiederhören.",
    },
    "not_interested": {
        "en": "No problem at all, thank you for your time. Goodbye.",
        "es": "No hay problema, gracias por su tiempo. Adiós.",
        "fr": "Aucun problème, merci pour votre temps. Au revoir.",
        "de": "Kein Problem, vielen Dank für Ihre Zeit. Auf Wiederhören.",
    },
    "later": {
        "en": "Of course. We'll try you another time. Have a good day.",
        "es": "Por supuesto. Le llamaremos en otro momento. Que tenga un buen día.",
        "fr": "Bien sûr. Nous vous rappellerons une autre fois. Bonne journée.",
        "de": "Natürlich. Wir versuchen es ein anderes Mal. Einen schönen Tag noch.",
    },
    "silent": {
        "en": "I'm having trouble hearing you, so I'll try another time. Goodbye.",
        "es": "Tengo problemas para oírle, así que le llamaré en otro momento. Adiós.",
        "fr": "J'ai du mal à vous entendre, je vous rappellerai une autre fois. Au revoir.",
        "de": "Ich kann Sie leider schlecht hören, ich versuche es ein anderes Mal. Auf Wiederhören.",
    },
    "repeat": {
        "en": "Sorry, I didn't catch that.",
        "es": "Perdone, no le he entendido.",
        "fr": "Pardon, je n'ai pas bien compris.",
        "de": "Entschuldigung, das habe ich nicht verstanden.",
    },
    "still_there": {
        "en": "Are you still there?",
        "es": "¿Sigue ahí?",
        "fr": "Vous êtes toujours là ?",
        "de": "Sind Sie noch da?",
    },
    "thanks": {"en": "Thank you.", "es": "Gracias.", "fr": "Merci.", "de": "Danke."},
    # A question of the callee's that neither the FAQ nor the knowledge base answers.
    "cannot_answer": {
        "en": "I'm sorry, I don't have the answer to that.",
        "es": "Lo siento, no tengo la respuesta a eso.",
        "fr": "Je suis désolé, je n'ai pas la réponse à cette question.",
        "de": "Das kann ich Ihnen leider nicht beantworten.",
    },
    "transferring": {
        "en": "Of course. I'm connecting you with a colleague now, please stay on the line.",
        "es": "Por supuesto. Le paso ahora con un compañero, no cuelgue, por favor.",
        "fr": "Bien sûr. Je vous mets en relation avec un collègue, restez en ligne s'il vous plaît.",
        "de": "Natürlich. Ich verbinde Sie jetzt mit einem Kollegen, bitte bleiben Sie dran.",
    },
    "no_transfer": {
        "en": "I can't connect you with a colleague right now, but I'll ask someone to call you back. Goodbye.",
        "es": "Ahora mismo no puedo pasarle con un compañero, pero pediré que alguien le llame. Adiós.",
        "fr": "Je ne peux pas vous mettre en relation avec un collègue pour le moment, "
        "mais je vais demander qu'on vous rappelle. Au revoir.",
        "de": "Ich kann Sie gerade nicht mit einem Kollegen verbinden, "
        "aber ich bitte jemanden, Sie zurückzurufen. Auf Wiederhören.",
    },
    # Key 0 on a real-time call with no transfer number: the conversation goes on.
    "nobody_free": {
        "en": "Sorry, there's nobody I can connect you with right now, but I'm happy to help.",
        "es": "Lo siento, ahora mismo no puedo pasarle con nadie, pero con gusto le ayudo.",
        "fr": "Désolé, je ne peux vous mettre en relation avec personne pour le moment, mais je peux vous aider.",
        "de": "Leider kann ich Sie gerade mit niemandem verbinden, aber ich helfe Ihnen gern weiter.",
    },
    "goodbye": {
        "en": "Thank you for your time. Goodbye.",
        "es": "Gracias por su tiempo. Adiós.",
        "fr": "Merci pour votre temps. Au revoir.",
        "de": "Vielen Dank für Ihre Zeit. Auf Wiederhören.",
    },
    "technical": {
        "en": "I'm sorry, I'm having a technical problem on my end. We'll call you back another time. Goodbye.",
        "es": "Lo siento, tengo un problema técnico. Le llamaremos en otro momento. Adiós.",
        "fr": "Je suis désolé, j'ai un problème technique. Nous vous rappellerons une autre fois. Au revoir.",
        "de": "Es tut mir leid, ich habe ein technisches Problem. Wir rufen Sie ein anderes Mal an. Auf Wiederhören.",
    },
    "wait": {
        "en": "One moment, please.",
        "es": "Un momento, por favor.",
        "fr": "Un instant, s'il vous plaît.",
        "de": "Einen Moment, bitte.",
    },
    "say_again": {
        "en": "Sorry, could you say that again?",
        "es": "Perdone, ¿puede repetirlo?",
        "fr": "Pardon, pouvez-vous répéter ?",
        "de": "Entschuldigung, können Sie das wiederholen?",
    },
}


def line(key: str, language: str = "en-US") -> str:
    """The platform's line `key` in `language` (an agent language such as "es-ES")."""
    texts = LINES[key]
    return texts.get((language or "en").split("-")[0].lower(), texts["en"])


def line_for(key: str, agent) -> str:
    return line(key, getattr(agent, "language", "") or "en-US")

"""Readings around the cues, as data: withdrawal combinations, the benign readings that cancel a cue
(idiom, denial, study or fiction, joke, resolved history), words of the risk domain, how a reply
discusses or endorses risk, and the markers of who is at risk."""

from __future__ import annotations

import re

from workbench.safety_rules.pattern import FLAGS, p

__all__ = ["CLINICIAN", "DENIAL", "DISCUSSION", "ENDORSE", "HISTORY_OLD", "IDIOM", "JOKE", "RESOLVED", "RETURNING", "SELF_APPLIED", "SERIOUS", "STUDY", "TIMELINE", "TOPICAL", "WHO", "WITHDRAWAL_BAD", "WITHDRAWAL_CONTEXT", "WITHDRAWAL_PLAN", "WITHDRAWAL_SEVERE"]

# Withdrawal is a combination: a stop (context) plus symptoms; the symptoms set the level.
WITHDRAWAL_CONTEXT = p(
    r"\b(?:stopped|quit|quitting|stopping|coming off|came off|come off)\b (?:(?:his|her|my|their) )?(?:drinking|alcohol|booze|the drink|opioids|heroin|benzo\w*|xanax|valium|sedatives|methadone)\b",
    r"\b(?:days?|weeks?) (?:without|off) (?:alcohol|a drink|drinking|booze)\b",
    r"\bdrinking (?:suddenly|abruptly)\b", r"\bstopped drinking\b",
    r"\bdej[eé] de beber\b", r"\bsin beber\b", r"शराब छोड़", r"शराब छोड", r"\b(?:sharab|sharaab|daru|daaru) (?:chhod|chod)",
)
WITHDRAWAL_BAD = p(r"\b(?:shaking|shaky|shakes|trembl\w*|tremor\w*|tremulous|sweat\w*|racing heart|heart is racing|"
                     r"vomit\w*|can'?t keep (?:water|food|anything) down)\b",
                     r"\b(?:temblar|temblores|sudar|sudores)\b", r"काँप", r"कांप", r"\bkaanp")
WITHDRAWAL_SEVERE = p(r"\b(?:seeing things|hearing things|hallucinat\w*|confus\w*|seizures?|fits?|convuls\w*|delirium|dts)\b",
                        r"\balucin\w*\b", r"दिख रही हैं जो", r"चीज़ें दिख", r"\bdikh rah")
WITHDRAWAL_PLAN = p(
    r"\b(?:quit|stop|stopping|quitting|give up)\b[^.!?]{0,15}\bcold turkey\b[^.!?]*\b(?:heav\w*|every day|daily|for years)\b",
    r"\bcold turkey\b[\s\S]{0,80}?\b(?:heav\w*|every day|daily|for years)\b",
    r"\bran out of (?:my |his |her )?(?:\w+ )?(?:medication|meds|pills|tablets|benzos?)\b",
)

# Readings that make a message benign, and marks that qualify them.
IDIOM = p(
    r"\b(?:is|are|was|were|be) killing me\b", r"\bkill(?:ed|s)? me\b(?=[.!,]| (?:today|this|at|with))",
    r"\bkill(?:ed|ing)? it\b", r"\bkiller\b", r"\bkilling time\b", r"\b(?:dying|dyin) to\b",
    r"\bdie of (?:boredom|embarrassment|shame|laughter|hunger)\b", r"\b(?:nearly |almost )?died laughing\b",
    r"\bdead tired\b", r"\b(?:death|end) of me\b", r"\b(?:could|can) murder an?\b", r"\bkill for an?\b",
    r"\b(?:going|gonna) to (?:kill|murder) me\b", r"\bshoot me now\b", r"\b(?:nearly|almost) killed (?:me|her|him)\b",
    r"\brather die than\b", r"\b(?:phone|battery|server|laptop|character|car)\b[^.!?]{0,10}\b(?:died|is dead)\b",
    r"\bme muero de\b", r"\bmuert[oa] de (?:cansancio|hambre|risa|sue[ñn]o|miedo|ganas)\b",
    r"\bme (?:est[aá] matando|mat[oó]|mata de|va a matar)\b",
    r"\bjaan (?:le lega|nikal)", r"जान (?:ही )?निकाल", r"मरा जा रहा", r"मरी जा रही", r"(?:भूख|गर्मी|ठंड|बोरियत|थकान|हंसी|हँसी) से मर",
    r"\b(?:bhookh|bhook|garmi|thand|boriyat|thakan|hasi|hansi) se mar", r"\bkill(?:ing|ed)? myself laughing\b",
    r"\bbhookh se mar", r"मार (?:ही )?डाला", r"\bmaar (?:hi )?daal", r"\bzinda laash\b",
    r"\b(?:mujhe|hume|humein) maar (?:da?a?l\w*|de\w*)", r"मुझे मार (?:डाल|दे)",
)
DENIAL = p(
    r"\b(?:not|never|no|don'?t|do not|didn'?t|haven'?t|wasn'?t|am not|isn'?t|without|denied|deny|denies)\b[^.,;!?]{0,30}?"
    r"(?:suicid\w*|kill(?:ing)? myself|hurt(?:ing)? (?:myself|anyone|anybody|someone)|harm(?:ing)? (?:myself|anyone)|"
    r"end(?:ing)? (?:my|it|things)\b(?: (?:life|all))?|thoughts|want to die|a plan|do anything)",
    r"\b(?:screened|screens|screening|was) negative(?: for [^.,;!?]{0,30})?", r"\bnegative (?:screen|for suicid\w*)\b",
    r"\bno\b[^.,;!?]{0,25}?(?:hacerme da[ñn]o|matarme|quitarme la vida|suicid\w*|morir\w*|ideas de muerte)",
    r"\bsuicidal\s+nahi", r"\bnahi\b[^.]{0,15}\bsuicidal\b", r"आत्महत्या[^।]{0,25}नहीं",
)
STUDY = p(r"\b(?:essay|assignment|course|class discussion|lead the class|exam|homework|novel|short story|fiction|"
            r"documentary|research(?:ing)?|statistics|training session|lecture|thesis|literature)\b",
            r"\b(?:a |the |that |this )?song about\b")
SELF_APPLIED = p(r"\b(?:literally|basically|actually) me\b", r"\bthat'?s me\b", r"\bis me right now\b")
HISTORY_OLD = p(r"\b(?:years|decades?|a decade|long time|ages) ago\b", r"\bas a (?:teen(?:ager)?|kid|child)\b",
                  r"\b(?:ten|\d+|many|several|two|three|five) years\b", r"\bhace (?:muchos |varios )?años\b",
                  r"कई साल पहले", r"\bsaal pehle\b", r"\blong time\b")
RESOLVED = p(r"\b(?:doing|feel(?:ing)?|i'?m) (?:well|better|great|fine|okay|ok|good|safe) now\b", r"\bproud of\b",
               r"\bsober since\b", r"\bdenied any current\b", r"\bno current (?:thoughts|ideation)\b",
               r"\bprotective factors are strong\b", r"\b(?:hoy |ahora )?estoy bien\b", r"अब मैं ठीक",
               r"\bab (?:main|mai) (?:theek|thik)\b", r"\bfeel safe now\b", r"\bhow far i'?ve come\b")
RETURNING = p(r"\b(?:creeping|coming|came|are|is) back\b", r"\bback again\b", r"\blately\b", r"\bstill feel\b",
                r"\bbrought (?:it|them|everything) (?:all )?back\b", r"\bcan'?t stop\b", r"\bagain\b")
TIMELINE = p(r"\btonight\b", r"\bright now\b", r"\bin the next hour\b", r"\besta noche\b", r"आज रात", r"\baaj raat\b")
JOKE = p(r"\b(?:lol|lmao|lmfao|rofl|haha\w*|jk|xd)\b", r"[😂🤣🙃💀😅😆😜🤪]")
SERIOUS = p(r"\bnot (?:joking|kidding)\b", r"\bfr fr\b", r"\bfor real\b", r"\bi mean it\b", r"\bno joke\b",
              r"\bseriously\b")

# Words of the risk domain. A message without any of them is left to the rules unless the
# classifier is very sure: most false alarms of an embedding classifier are topically near messages.
TOPICAL = p(
    r"\b(?:die|dies|dying|dead|death|died|kill\w*|suicid\w*|alive|living|live|life|hurt\w*|harm\w*|cut\w*|"
    r"pills?|tablets?|overdos\w*|bleed\w*|blood|gone|disappear\w*|vanish\w*|wake up|goodbyes?|burden|hopeless|"
    r"worthless|point|abus\w*|hits?|unsafe|safe|scared|afraid|drink\w*|alcohol|withdraw\w*|shak\w*|trembl\w*|"
    r"weapon|knife|gun|threat\w*|end (?:it|things|everything))\b",
    r"\b(?:morir\w*|muero|muere|muert\w*|matar\w*|vida|vivir|viviendo|suicid\w*|da[ñn]o|pastillas|desaparec\w*|sentido)\b",
    r"मर|मौत|जान|जीन|जीने|खत्म|ख़त्म|आत्महत्या|नुकसान|गोलि",
    r"\b(?:marna|marne|mar ja\w*|maut|jaan|jeena|jeene|khatam|khatm|goliyan|nuksaan)\b",
)

# A reply that talks *about* risk: advice to ask, assess or watch for it, a conditional instruction,
# a list of risk factors, or a reflection of the person's own words. Used only on model replies
# (``safety.screen_reply``), never on the messages people send.
DISCUSSION = p(
    r"\b(?:ask\w*|question\w*|assess\w*|screen\w*|enquir\w*|inquir\w*|explor\w*|check\w*|monitor\w*|review\w*|"
    r"document\w*|whether|discuss\w*|conversations?|address\w*|rais\w*|broach\w*|approach\w*)\b",
    r"\b(?:talk\w*|speak\w*) (?:about|through|with)\b", r"\bbring\w* (?:it |this |that )?up\b",
    r"\bif (?:you|he|she|they|things|there|it|this|that)\b",
    r"\b(?:risks?|indicators?|warning signs?|red flags?|ladder|escalating factors?|denied|denies)\b",
    r"\b(?:such as|including|for example|e\.g\.)",
    r"\b(?:tells me|sounds like|when you say|you(?:'ve| have)? (?:said|described|mentioned|told me))\b",
)

# A reply that endorses or invites harm counts whatever its framing (reply guard only).
ENDORSE = (
    ("suicidal_ideation", p(r"\b(?:you|they|he|she)(?:'d| would)(?: really| honestly)? be better off dead\b", r"\b(?:life|living)(?: really)? (?:is not|isn't|is never) worth",
                             r"\b(?:want|wants|wanting) to die,? (?:that|it)(?:'s| is) (?:your|their|her|his) "
                             r"(?:choice|decision|business|right)",
                             r"\b(?:your|their|her|his) (?:choice|decision|right) to (?:die|end (?:it|(?:your|their|her|his) life))",
                             r"\b(?:should|could|might as well|deserves? to) (?:just )?(?:die|end (?:it|it all|(?:your|their|her|"
                             r"his) life)|kill (?:yourself|themselves|himself|herself))\b",
                             r"\btake all (?:of )?(?:your|her|his|their|the|those) (?:pills|tablets|medication)",
                             r"\bwhy not (?:just )?(?:end it|die|kill (?:yourself|themselves|himself|herself))\b")),
    ("harm_to_others", p(r"\b(?:should|could|might as well|go ahead and) (?:just )?(?:hurt|hit|harm|kill|attack|punish) "
                          r"(?:him|her|them|that)\b", r"\bhurt (?:him|her|them) before (?:he|she|they) hurts?\b")),
)

# Who is speaking about whom.
CLINICIAN = p(
    r"\b(?:my|a|our|the|one of my)\b (?:\w+ ){0,2}?(?:client|patient)s?\b(?!['’]s risk assessment)",
    r"\bclient(?:['’]s)? (?:disclosed|told|said|says|reported|texted|screened)\b",
    r"\b(?:in|during|after) (?:the |a |our )?session\b", r"\bmi paciente\b", r"\bmis pacientes\b",
    r"\b(?:meri|mera|mere) (?:client|patient|mareez|marij)\b", r"मेरे? (?:क्लाइंट|मरीज़|मरीज)", r"मेरी (?:क्लाइंट|मरीज़|मरीज)",
)
THIRD_NP = (r"(?:my|our|his|her) (?:\w+ )?(?:friend|brother|sister|son|daughter|dad|father|mum|mom|mother|husband|"
             r"wife|partner|boyfriend|girlfriend|roommate|flatmate|colleague|coworker|neighbou?r|grandmother|"
             r"grandfather|uncle|aunt|cousin|kid|child|teen|student)s?\b|\b(?:a|the) (?:little )?(?:boy|girl|child|"
             r"kid|student|teen)\b|\bmi (?:amig[oa]|herman[oa]|hij[oa]|vecin[oa]|madre|padre|pareja)\b|"
             r"\b(?:mera|meri|mere) (?:bhai|behen|behan|dost|saheli|beta|beti|papa|pati)\b|मेरी सहेली|मेरा भाई|मेरी बहन")
WHO = re.compile(
    r"(?P<other>" + THIRD_NP + r"|\b(?:he|she|they|him|his|them|their|himself|herself|themselves|he's|she's|"
    r"her)\b|\bse (?:quiere|est[aá]|hace|hizo|va)\b|वह|वो|\b(?:usko|usne|wo|woh)\b)"
    r"|(?P<self>\b(?:i|i'm|im|i've|i'd|me|my|myself|mine|yo|m[ií])\b|मैं|मुझे|मैंने|मेरा|मेरी|मेरे|\b(?:main|mujhe|maine|mera|meri)\b)",
    FLAGS)

/* Embeds the OpenAPI document, so the static binary serves it without any file beside it. */
    .section .rodata
    .global api_openapi_json
    .global api_openapi_json_end
api_openapi_json:
    .incbin "internal/api/openapi.json"
api_openapi_json_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
